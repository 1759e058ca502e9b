package tmi

import (
	"testing"

	"github.com/ingress-egress/ingress-egress/internal/tagindex"
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
			if v.IsBroadcaster() && v.IsVIP() && v.IsSharedChatOrigin() && v.TextValidUTF8() {
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

// manyTagsLine is a 16 KiB line of 4,000 distinct keys (and, with dup, the
// first key again at the end): more than Tags tracks, so it takes the
// slow index.
func manyTagsLine(dup bool) []byte {
	var b []byte
	b = append(b, '@')
	for i := range 4000 {
		b = append(b, byte('a'+i%26), byte('a'+i/26%26), byte('a'+i/676), ';')
	}
	if dup {
		b = append(b, "aaa=last;"...)
	}
	return append(b[:len(b)-1], " :a!a@a PRIVMSG #c :hi"...)
}

func TestManyTags(t *testing.T) {
	for _, dup := range []bool{false, true} {
		m, err := ircv3.Parse(manyTagsLine(dup))
		if err != nil {
			t.Fatal(err)
		}
		var v View
		v.Reset(&m)
		n, firstVal := 0, ""
		for it := v.UniqueTags(); it.Next(); n++ {
			if n == 0 {
				firstVal = string(it.Key()) + "=" + string(it.Value())
			}
		}
		indexed := (*tagindex.Index)(&v.Tags).Indexed()
		if indexed || v.Tags.Duplicates() != dup || n != 4000 {
			t.Errorf("dup %v: indexed %v, duplicates %v, %d unique tags; want false, %v, 4000", dup, indexed, v.Tags.Duplicates(), n, dup)
		}
		if want := "aaa="; dup {
			want = "baa="
			if firstVal != want {
				t.Errorf("first unique tag %q, want %q (the first aaa is superseded)", firstVal, want)
			}
		} else if firstVal != want {
			t.Errorf("first unique tag %q, want %q", firstVal, want)
		}
	}
}

// BenchmarkViewResetManyTags: a line of 4,000 distinct keys, indexed by
// hash (pairwise it took 0.3 s).
func BenchmarkViewResetManyTags(b *testing.B) {
	m, err := ircv3.Parse(manyTagsLine(false))
	if err != nil {
		b.Fatal(err)
	}
	var v View
	b.ReportAllocs()
	for b.Loop() {
		v.Reset(&m)
		for it := v.UniqueTags(); it.Next(); {
		}
	}
}
