package ircv3

import (
	"bytes"
	"testing"
)

// The hot path must not allocate. These guards count exactly; they are
// skipped under -race, which allocates on its own.
func TestZeroAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	line := []byte(twitchPrivmsg)
	var m Message
	if err := m.Parse(line); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	stream := bytes.Repeat([]byte(twitchPrivmsg+"\r\n"), 64)
	src := bytes.NewReader(stream)
	rd := NewReader(src, 0)
	sink := 0
	for name, f := range map[string]func(){
		"Parse": func() {
			m, err := Parse(line)
			if err != nil {
				t.Fatal(err)
			}
			sink += m.NumParams()
		},
		"Message.Parse": func() { m.Parse(line) },
		"Tag": func() {
			v, _ := m.Tag("tmi-sent-ts")
			w, _ := m.Tag("badge-info")
			sink += len(v) + len(w)
		},
		"TagIter": func() {
			it := m.TagIter()
			for it.Next() {
				sink += len(it.Key()) + len(it.Value())
			}
		},
		"AppendUnescaped": func() {
			buf = AppendUnescaped(buf[:0], []byte(`hello\sworld\:\\s`))
		},
		"Reader steady state": func() {
			l, err := rd.ReadLine()
			if err != nil {
				src.Reset(stream)
				rd.Reset(src)
				l, _ = rd.ReadLine()
			}
			sink += len(l)
		},
		"AppendPong": func() {
			buf, _ = AppendPong(buf[:0], m.Param(0))
		},
		"AppendJoin": func() {
			buf, _ = AppendJoin(buf[:0], "#a", "#bb", "#ccc")
		},
		"AppendPrivmsg": func() {
			buf, _ = AppendPrivmsg(buf[:0], "#c", "hello there")
		},
		"AppendMessage": func() {
			buf, _ = AppendMessage(buf[:0], &m)
		},
	} {
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s allocates %v times per run, want 0", name, n)
		}
	}
	_ = sink
}
