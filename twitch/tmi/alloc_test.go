package tmi

import (
	"testing"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// The model is on the per-line hot path: none of it may allocate.
func TestModelZeroAllocations(t *testing.T) {
	if modelRace {
		t.Skip("allocation counts are meaningless under -race")
	}
	line := []byte(modelPrivmsg)
	m, err := ircv3.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	v := new(View)
	v.Reset(&m)
	sink := 0
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"View.Reset", func() { v.Reset(&m) }},
		{"Badges", func() {
			it := v.Badges()
			for it.Next() {
				sink += len(it.Name()) + len(it.Version())
			}
		}},
		{"Emotes (non-ASCII text)", func() {
			it := v.Emotes()
			for it.Next() {
				sink += it.Start() + len(it.Name())
			}
		}},
		{"UniqueTags", func() {
			it := v.UniqueTags()
			for it.Next() {
				sink += len(it.Key())
			}
		}},
		{"accessors", func() {
			ch, _ := v.Channel()
			n, _ := v.SentAt()
			l, _ := v.Login()
			sink += len(ch) + len(l) + int(n)
			if v.IsBroadcaster() && v.IsVIP() && v.IsSharedChatOrigin() {
				sink++
			}
		}},
	} {
		if n := testing.AllocsPerRun(200, c.f); n != 0 {
			t.Errorf("%s allocates %v times per run, want 0", c.name, n)
		}
	}
	_ = sink
}

func BenchmarkViewReset(b *testing.B) {
	line := []byte(modelPrivmsg)
	m, err := ircv3.Parse(line)
	if err != nil {
		b.Fatal(err)
	}
	var v View
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		v.Reset(&m)
	}
}

func BenchmarkEmotes(b *testing.B) {
	m, _ := ircv3.Parse([]byte(modelPrivmsg))
	var v View
	v.Reset(&m)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		it := v.Emotes()
		for it.Next() {
			n += it.End()
		}
	}
}
