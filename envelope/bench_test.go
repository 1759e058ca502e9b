package envelope

import (
	"testing"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// BenchmarkEnvelope measures Append alone (the line already parsed) for
// the full PRIVMSG; comparisons with encoding/json and the peers live in
// the bench module.
func BenchmarkEnvelope(b *testing.B) {
	line := []byte(fullPrivmsg)
	m, err := ircv3.Parse(line)
	if err != nil {
		b.Fatal(err)
	}
	e := NewEncoder(nil)
	buf := make([]byte, 0, 8192)
	out, _ := e.Append(buf, line, &m, received)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = e.Append(buf[:0], line, &m, received)
	}
}

// BenchmarkEnvelopeCorpus: parse and Append over the corpus, one line per
// op (every kind enabled).
func BenchmarkEnvelopeCorpus(b *testing.B) {
	lines := readCorpus(b)
	e := NewEncoder(&Options{Kinds: allKinds})
	buf := make([]byte, 0, 16384)
	var m ircv3.Message
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		line := lines[i]
		if i++; i == len(lines) {
			i = 0
		}
		if m.Parse(line) == nil {
			buf, _ = e.Append(buf[:0], line, &m, received)
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	s := []byte("👀 WutFace papaWave hello wait chatting tomorrow phase can't two of them <3")
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	var bad bool
	for b.Loop() {
		buf = appendString(buf[:0], s, &bad)
	}
}

func BenchmarkMessageID(b *testing.B) {
	id := []byte("885196de-cb67-427a-baa8-82f9b0fcd05f")
	b.ReportAllocs()
	for b.Loop() {
		MessageID(id)
	}
}
