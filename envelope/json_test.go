package envelope

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
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
		got := string(appendString([]byte("x"), []byte(s)))
		if want := "x" + marshalString(t, []byte(s)); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add([]byte("hello <world> & \"you\"\u2028\xff"))
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := string(appendString(nil, s)), marshalString(t, s); got != want {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
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
