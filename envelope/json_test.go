package envelope

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

func marshalString(t testing.TB, s []byte) string {
	t.Helper()
	want, err := json.Marshal(string(s))
	if err != nil {
		t.Fatal(err)
	}
	return string(want)
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		"", "plain ascii text that is long enough for words", `"quoted"`, `back\slash`,
		"<script>&amp;</script>", "\b\f\n\r\t\x00\x01\x1f\x7f", "\u2028\u2029", "a\u2028b\u2029c",
		"😂 Kappa 小明 \U000E0000", "\xff", "\xfe\xff", "\xc3", "\xc3\xa9", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"abcdefg\x80", "abcdefgh<", "abcdefgh\"", "12345678&12345678>", "1234567\\", "12345678\u2028",
		strings.Repeat("x", 100) + "\x19" + strings.Repeat("y", 7),
	}
	for b := range 256 {
		cases = append(cases, string([]byte{byte(b)}), "abcdefgh"+string([]byte{byte(b)})+"ijklmnop")
	}
	for _, s := range cases {
		var bad bool
		got := string(appendString([]byte("x"), []byte(s), &bad))
		if want := "x" + marshalString(t, []byte(s)); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
		if bad != !utf8.ValidString(s) {
			t.Errorf("appendString(%q) bad = %v", s, bad)
		}
		checkTagString(t, []byte(s))
		checkTagString(t, ircv3.AppendEscaped(nil, []byte(s)))
	}
	for _, raw := range []string{`a\sb`, `\`, `x\`, `\\\`, `\:\s\r\n\t\"\<\\`, "\\\x01", "\xc3\\\xa9", "\\\xff", "\\\xe2\x80\xa8",
		`hello\sworld\:\sok`, `Day\s53/53\sforsenSmug`, "\xc3\\:", "\\\u2028"} {
		checkTagString(t, []byte(raw))
	}
}

// checkTagString: appendTagString of a raw tag value is the JSON string of
// its unescaped form, and flags invalid UTF-8 in that form.
func checkTagString(t testing.TB, raw []byte) {
	t.Helper()
	var bad bool
	var scratch []byte
	unescaped := ircv3.AppendUnescaped(nil, raw)
	got := string(appendTagString([]byte("x"), raw, &bad, &scratch))
	if want := "x" + marshalString(t, unescaped); got != want {
		t.Fatalf("appendTagString(%q) = %s, want %s", raw, got, want)
	}
	if bad != !utf8.Valid(unescaped) {
		t.Fatalf("appendTagString(%q) bad = %v", raw, bad)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add([]byte("hello <world> & \"you\"\u2028\xff"))
	f.Add([]byte("a\\sb\\\xff\\"))
	f.Add([]byte("\u2027\u2028\u2029\u202a \u20ac\xe2\x80\xa8 \u00e2\x01 caf\u00e9 😂 <\"&>\\ \x7f\t"))
	f.Fuzz(func(t *testing.T, s []byte) {
		var bad bool
		want := marshalString(t, s)
		if got := string(appendString(nil, s, &bad)); got != want {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
		if utf8.Valid(s) {
			if got := string(appendValidText(nil, s)); got != want {
				t.Fatalf("appendValidText(%q) = %s, want %s", s, got, want)
			}
		}
		checkTagString(t, s)
	})
}

func TestAppendMillis(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []int64{0, -1, 1, minMillis, maxMillis, 951782400000, 951868799999, 1709164800000, -62135596800000}
	for range 20000 {
		values = append(values, minMillis+r.Int64N(maxMillis-minMillis+1))
	}
	for _, ms := range values {
		want := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
		if got := string(appendMillis(nil, ms)); got != want {
			t.Fatalf("appendMillis(%d) = %s, want %s", ms, got, want)
		}
	}
}

func TestAppendInt(t *testing.T) {
	for _, n := range []int64{0, 7, 10, 99, 100, 123456789, 999999999999999999} {
		got, _ := json.Marshal(n)
		if s := string(appendInt(nil, n)); s != string(got) {
			t.Errorf("appendInt(%d) = %s", n, s)
		}
	}
}

func TestSecondCache(t *testing.T) {
	var c secondCache
	for _, ms := range []int64{1642786203573, 1642786203574, 1642786203999, 1642786204000, 1642809599999, 1642809600000, 0, -1, -1000, -1001, 999, 1642786203573, maxMillis, maxMillis - 999, minMillis, minMillis + 1} {
		want := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
		if got := string(c.appendMillis(nil, ms)); got != want {
			t.Errorf("secondCache.appendMillis(%d) = %s, want %s", ms, got, want)
		}
	}
}

// TestPlainWord checks the word test against the byte table for every
// byte in every position, next to plain and to attention bytes.
func TestPlainWord(t *testing.T) {
	for pos := range 8 {
		for b := range 256 {
			for _, fill := range []byte{'a', 0x7f, ' ', 0x20 + 1} {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(b)
				want := b < utf8.RuneSelf && htmlSafe[b] && htmlSafe[fill]
				if got := plainWord(binary.LittleEndian.Uint64(w[:])); got != want {
					t.Fatalf("plainWord(%q) = %v, want %v", w, got, want)
				}
			}
		}
	}
	// A flagged low byte must not hide nor fake anything above it.
	for lo := range 256 {
		for hi := range 256 {
			w := [8]byte{'a', 'a', 'a', byte(lo), byte(hi), 'a', 'a', 'a'}
			want := lo < utf8.RuneSelf && htmlSafe[lo] && hi < utf8.RuneSelf && htmlSafe[hi]
			if got := plainWord(binary.LittleEndian.Uint64(w[:])); got != want {
				t.Fatalf("plainWord(%q) = %v, want %v", w, got, want)
			}
		}
	}
}

// TestPlainTextWord checks the valid-UTF-8 word test against the byte
// classes for every byte in every position, among plain ASCII and
// non-ASCII neighbours.
func TestPlainTextWord(t *testing.T) {
	for pos := range 8 {
		for b := range 256 {
			for _, fill := range []byte{'a', 0x7f, ' ', 0x80, 0xbf, 0xe3, 0xff} {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(b)
				want := b == 0xe2 || b < utf8.RuneSelf && !htmlSafe[b]
				if got := plainTextWord(binary.LittleEndian.Uint64(w[:])); got == want {
					t.Fatalf("plainTextWord(%q) = %v, want %v", w, got, !want)
				}
			}
		}
	}
}

// TestAppendValidTextLengths: texts of lengths around the word size and
// up to several KiB are written as encoding/json writes them.
func TestAppendValidTextLengths(t *testing.T) {
	unit := "Kappa 😂 <3 \u2028 \"q\" \x01 小明 "
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 4095, 4096, 4097, 3 * 4096} {
		s := []byte(strings.Repeat(unit, n/len(unit)+1)[:n])
		for !utf8.Valid(s) {
			s = s[:len(s)-1] // cut inside a character
		}
		if got, want := string(appendValidText(nil, s)), marshalString(t, s); got != want {
			t.Fatalf("len %d: appendValidText = %s, want %s", len(s), got, want)
		}
	}
}

// TestPlainASCII holds plainASCII to the byte table for every length up
// to 24 with every byte value in every position.
func TestPlainASCII(t *testing.T) {
	for n := range 25 {
		for pos := range n {
			for b := range 256 {
				s := bytes.Repeat([]byte{'a'}, n)
				s[pos] = byte(b)
				want := b < utf8.RuneSelf && htmlSafe[b]
				if got := plainASCII(s); got != want {
					t.Fatalf("plainASCII(%q) = %v, want %v", s, got, want)
				}
			}
		}
		if !plainASCII(bytes.Repeat([]byte{'z'}, n)) {
			t.Fatalf("plainASCII of %d plain bytes is false", n)
		}
	}
}
