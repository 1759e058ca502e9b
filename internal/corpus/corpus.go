// Package corpus makes realistic Twitch IRC lines, deterministically from a
// seed, for benchmarks (the committed ircv3/testdata/twitch-corpus.irc) and for
// the fake Twitch server of the load tests (Generator).
//
// The mix follows Twitch chat: about 90 % PRIVMSG with full tag sets (badges
// including subscriber, predictions, vip and moderator; empty and CJK display
// names; emotes with code point ranges, also after multi-code-point emoji;
// replies whose parent body needs `\s`, `\:` and `\\` escapes; bits; shared
// chat source-* tags; /me ACTION; text in many scripts), plus USERNOTICE (sub,
// resub, subgift, submysterygift, raid, announcement), CLEARCHAT, CLEARMSG,
// ROOMSTATE, USERSTATE and PING. Lines average about 460 bytes. Everything is
// synthetic: no name, id or message was recorded from real chat.
//
// The sequence for a seed is fixed by this package alone (it carries its own
// PRNG), so the committed corpus only changes when this package does;
// TestCorpusFile fails until `go generate ./internal/corpus` has been rerun.
package corpus

import (
	"bufio"
	"io"
)

//go:generate go run ./gen -seed 1 -n 10000 -o ../../ircv3/testdata/twitch-corpus.irc

// The committed corpus: File, relative to the module root, holds Lines lines
// of Seed, each ended by CR LF.
const (
	Seed  = 1
	Lines = 10000
	File  = "ircv3/testdata/twitch-corpus.irc"
)

// Generate returns n lines (without CR LF) made from seed, spread over a pool
// of channels with Twitch's mix of kinds. The lines share one backing array;
// each has its capacity cut to its length, so appending to one copies it.
func Generate(seed int64, n int) [][]byte {
	g := NewGenerator(seed)
	lines := make([][]byte, 0, n)
	var buf []byte
	for range n {
		if cap(buf)-len(buf) < 4096 {
			buf = make([]byte, 0, 1<<20)
		}
		start := len(buf)
		buf, _ = g.AppendLine(buf, g.pickChannel(), zeroTime)
		lines = append(lines, buf[start:len(buf):len(buf)])
	}
	return lines
}

// Write writes n lines made from seed to w, each ended by CR LF: the bytes of
// Generate(seed, n), joined.
func Write(w io.Writer, seed int64, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	g := NewGenerator(seed)
	var line []byte
	for range n {
		line, _ = g.AppendLine(line[:0], g.pickChannel(), zeroTime)
		line = append(line, '\r', '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// pickChannel chooses one of the pool's channels, the first ones hottest.
func (g *Generator) pickChannel() string {
	return channels[g.r.intn(g.r.intn(len(channels))+1)]
}
