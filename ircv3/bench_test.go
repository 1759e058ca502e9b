package ircv3

import (
	"bytes"
	"os"
	"testing"
)

// corpusLines loads testdata/twitch-corpus.irc: 10,000 Twitch-shaped lines
// generated with a fixed seed by internal/corpus.
func corpusLines(b *testing.B) (lines [][]byte, raw []byte) {
	b.Helper()
	raw, err := os.ReadFile("testdata/twitch-corpus.irc")
	if err != nil {
		b.Fatal(err)
	}
	for rest := raw; len(rest) > 0; {
		var line []byte
		line, rest = NextLine(rest)
		if len(line) > 0 {
			lines = append(lines, line)
		}
	}
	return lines, raw
}

func avgLen(lines [][]byte) int64 {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	return int64(n / len(lines))
}

// BenchmarkParse guards the parser: one corpus line per op, 0 allocs.
func BenchmarkParse(b *testing.B) {
	lines, _ := corpusLines(b)
	b.SetBytes(avgLen(lines))
	b.ReportAllocs()
	var m Message
	i := 0
	for b.Loop() {
		if err := m.Parse(lines[i]); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(lines) {
			i = 0
		}
	}
}

// BenchmarkFramer guards the line reader over the whole corpus as a stream:
// one line per op, 0 allocs.
func BenchmarkFramer(b *testing.B) {
	lines, raw := corpusLines(b)
	b.SetBytes(avgLen(lines))
	b.ReportAllocs()
	src := bytes.NewReader(raw)
	rd := NewReader(src, 0)
	for b.Loop() {
		if _, err := rd.ReadLine(); err != nil {
			src.Reset(raw)
			rd.Reset(src)
		}
	}
}

// BenchmarkTagLookup guards Tag: the lookups the envelope makes for a
// PRIVMSG (first, middle and last tags, and a missing one) per op.
func BenchmarkTagLookup(b *testing.B) {
	lines, _ := corpusLines(b)
	var msgs []Message
	for _, l := range lines {
		if m, err := Parse(l); err == nil && m.IsCommand("PRIVMSG") {
			msgs = append(msgs, m)
		}
	}
	b.ReportAllocs()
	i, n := 0, 0
	for b.Loop() {
		m := &msgs[i]
		for _, k := range [...]string{"badge-info", "id", "user-id", "reply-parent-msg-id"} {
			v, _ := m.Tag(k)
			n += len(v)
		}
		if i++; i == len(msgs) {
			i = 0
		}
	}
	_ = n
}
