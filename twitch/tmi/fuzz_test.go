package tmi

import (
	"testing"
	"unicode/utf8"

	"github.com/ingress-egress/ingress-egress/internal/tagindex"
	"github.com/ingress-egress/ingress-egress/ircv3"
)

// FuzzView: the model never panics on any line, UniqueTags meets its
// definition, and every emote lies inside the text with Start <= End and a
// name of End-Start+1 code points.
func FuzzView(f *testing.F) {
	f.Add([]byte(modelPrivmsg))
	f.Add([]byte("@emotes=25:0-4,8-12;badges=a/1,b;vip=0 :a!a@a PRIVMSG #c :Kappa 😂 Kappa"))
	f.Add([]byte("@emotes=1:0-0/2:9-3/3:x-1/:/;a=1;a=2 :a!a@a PRIVMSG #c :\x01ACTION \xff\x01"))
	f.Add([]byte("@login=x;msg-param-a=1;msg-param-a=2 :tmi.twitch.tv USERNOTICE #c"))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := ircv3.Parse(line)
		if err != nil {
			return
		}
		var v View
		v.Reset(&m)
		if got, want := uniqueList(v.UniqueTags()), naiveUnique(&m); got != want {
			t.Fatalf("UniqueTags(%q) = %q, want %q", line, got, want)
		}
		// The index under Tags, as the envelope encoder reads it.
		x := (*tagindex.Index)(&v.Tags)
		if x.Indexed() {
			if got, want := itemList(x), naiveUnique(&m); got != want {
				t.Fatalf("Item(%q) = %q, want %q", line, got, want)
			}
		}
		// Plain and ItemPlain against the byte classes, from the masks
		// or the long path alike.
		for tags := m.TagIter(); tags.Next(); {
			val := tags.Value()
			want := len(m.Tags) <= tagindex.MaxPlainSection || len(val) == 0
			for _, c := range val {
				want = want && c >= 0x20 && c < 0x80 && c != '"' && c != '&' && c != '<' && c != '>' && c != '\\'
			}
			if got := x.Plain(val); got != want {
				t.Fatalf("%q: Plain(%q) = %v, want %v", line, val, got, want)
			}
		}
		if x.Indexed() {
			for i := range x.Len() {
				_, val, _, _ := x.Item(i)
				if got, want := x.ItemPlain(i), x.Plain(val) && len(m.Tags) <= tagindex.MaxPlainSection; got != want {
					t.Fatalf("%q: ItemPlain(%d) = %v, want %v (%q)", line, i, got, want, val)
				}
			}
		}
		if got, want := v.Tags.Duplicates(), naiveHasDup(&m); got != want {
			t.Fatalf("Duplicates(%q) = %v, want %v", line, got, want)
		}
		it := v.Emotes()
		for it.Next() {
			name := it.Name()
			if it.Start() < 0 || it.Start() > it.End() {
				t.Fatalf("%q: emote %d-%d", line, it.Start(), it.End())
			}
			n := 0
			for i := 0; i < len(name); n++ {
				_, size := utf8.DecodeRune(name[i:])
				i += size
			}
			if n != it.End()-it.Start()+1 {
				t.Fatalf("%q: emote %d-%d has %d code points (%q)", line, it.Start(), it.End(), n, name)
			}
		}
		for _, b := range []BadgeIter{v.Badges(), v.BadgeInfo(), v.SourceBadges()} {
			for b.Next() {
				if len(b.Name()) == 0 {
					t.Fatalf("%q: badge with an empty name", line)
				}
			}
		}
		v.Channel()
		v.Login()
		v.IsBroadcaster()
		v.Bits()
		v.SentAt()
		mp := v.MsgParams()
		for mp.Next() {
		}
	})
}
