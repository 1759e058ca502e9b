package tagindex

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// TestClassifyBlocks holds the vector code to classifyGeneric on every
// byte value in every position and on random sections of every length up
// to maskBytes, through classify (whole blocks and a padded tail).
func TestClassifyBlocks(t *testing.T) {
	for _, impl := range classifyImpls() {
		t.Run(impl.name, func(t *testing.T) {
			defer impl.use()()
			testClassifyBlocks(t)
		})
	}
}

func testClassifyBlocks(t *testing.T) {
	var all [256 * 2]byte
	for i := range all {
		all[i] = byte(i)
	}
	check := func(b []byte) {
		t.Helper()
		checkClassify(t, b)
		// The same bytes followed by more, of every class, within the
		// capacity: classify may read them but must not mark them.
		more := append(append(make([]byte, 0, len(b)+64), b...), bytes.Repeat([]byte(";=\"\x00\xff"), 13)...)
		checkClassify(t, more[:len(b)])
	}
	for off := range 64 {
		check(all[off : off+256])
	}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab;=;=\"&<>\\\x00\x1f\x7f\x80\xff é😂"
	for n := range maskBytes + 1 {
		b := make([]byte, n)
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
		}
		check(b)
	}
}

// checkClassify holds classify of b to classifyGeneric of b padded.
func checkClassify(t *testing.T, b []byte) {
	t.Helper()
	var m masks
	m.classify(b)
	padded := make([]byte, (len(b)+63)&^63)
	for i := copy(padded, b); i < len(padded); i++ {
		padded[i] = 'a'
	}
	words := len(padded) >> 6
	semi, eq, attn := make([]uint64, words), make([]uint64, words), make([]uint64, words)
	classifyGeneric(padded, semi, eq, attn)
	for w := range words {
		if m.semi[w] != semi[w] || m.eq[w] != eq[w] || m.attn[w] != attn[w] {
			t.Fatalf("len %d cap %d word %d: semi %x eq %x attn %x, want %x %x %x",
				len(b), cap(b), w, m.semi[w], m.eq[w], m.attn[w], semi[w], eq[w], attn[w])
		}
	}
}

func TestNextBit(t *testing.T) {
	var m [maskBytes / 64]uint64
	set := []int{0, 5, 63, 64, 200, 4095}
	for _, i := range set {
		m[i>>6] |= 1 << (i & 63)
	}
	for from := range maskBytes {
		want := maskBytes
		for _, i := range set {
			if i >= from {
				want = i
				break
			}
		}
		if got := next(&m, from, maskBytes); got != want {
			t.Fatalf("next from %d = %d, want %d", from, got, want)
		}
		if got := next(&m, from, 100); got != min(want, 100) {
			t.Fatalf("next from %d below 100 = %d, want %d", from, got, min(want, 100))
		}
	}
	if !anyIn(&m, 60, 65) || anyIn(&m, 6, 63) || anyIn(&m, 201, 4095) || !anyIn(&m, 201, 4096) {
		t.Error("anyIn")
	}
}

// TestPlain: Plain is true exactly for views of the section made of
// printable ASCII other than '"', '&', '<', '>' and '\\', and never for a
// copy, a capacity-limited view or a section too long for the masks.
func TestPlain(t *testing.T) {
	line := []byte("@a=plain-value-long-enough;b=x\\sy;c=ok;d=caf\xc3\xa9;e=<b>;f=1;g=;h=a\x7fb :n!n@n PRIVMSG #c :text")
	m, err := ircv3.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	var x Index
	x.Reset(m.Tags)
	want := map[string]bool{"a": true, "b": false, "c": true, "d": false, "e": false, "f": true, "g": true, "h": true}
	it := m.TagIter()
	for it.Next() {
		if got := x.Plain(it.Value()); got != want[string(it.Key())] {
			t.Errorf("Plain(%q) = %v", it.Value(), got)
		}
	}
	if x.Plain(m.Tags) || !x.Plain(m.Tags[:26]) {
		t.Error("Plain of the whole section, or of its plain first tag")
	}
	if x.Plain([]byte("plain-value-long-enough")) {
		t.Error("Plain of a copy = true")
	}
	if x.Plain(m.Tags[2:10:10]) {
		t.Error("Plain of a capacity-limited view = true")
	}
	if x.Plain(m.Param(1)) {
		t.Error("Plain of the text, outside the section = true")
	}
	for b := range 256 {
		sect := []byte("k=x" + string(rune(0)) + "y;z=1")
		sect[3] = byte(b)
		var tags Index
		tags.Reset(sect)
		want := b >= 0x20 && b < 0x80 && !bytes.ContainsRune([]byte(`"&<>\`), rune(b))
		if got := tags.Plain(sect[2:5]); got != want {
			t.Errorf("Plain(%q) = %v, want %v", sect[2:5], got, want)
		}
	}
	long := append([]byte("k="), bytes.Repeat([]byte("a"), maskBytes)...)
	var tags Index
	tags.Reset(long)
	if tags.Plain(long[2:10]) || tags.Get(Unknown) != nil || tags.Len() != 1 {
		t.Errorf("a section of %d bytes: Plain true or not split", len(long))
	}
}
