package tagindex

import (
	"strings"
	"testing"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

func TestUnescapedHelpers(t *testing.T) {
	for _, c := range []struct {
		a, b string
		eq   bool
	}{
		{"", "", true}, {"a", "a", true}, {`\s`, " ", true}, {`a\:b`, "a;b", true}, {`\`, "", true},
		{`\\`, `\`, true}, {`x\`, "x", true}, {`\r\n`, "\r\n", true}, {`\q`, "q", true},
		{"a", "b", false}, {`\s`, "s", false}, {"ab", "a", false}, {`a\`, "ab", false},
	} {
		if got := UnescapedEqual([]byte(c.a), ircv3.AppendEscaped(nil, []byte(c.b))); got != c.eq {
			t.Errorf("UnescapedEqual(%q, escaped %q) = %v", c.a, c.b, got)
		}
		if got := UnescapedEqual(ircv3.AppendEscaped(nil, []byte(c.b)), []byte(c.a)); got != c.eq {
			t.Errorf("UnescapedEqual(escaped %q, %q) = %v", c.b, c.a, got)
		}
		if want := string(ircv3.AppendUnescaped(nil, []byte(c.a))) == c.b; want != c.eq {
			t.Errorf("case %q %q disagrees with ircv3.AppendUnescaped", c.a, c.b)
		}
		if !strings.Contains(c.b, `\`) {
			if got := Is([]byte(c.a), c.b); got != c.eq {
				t.Errorf("Is(%q, %q) = %v", c.a, c.b, got)
			}
		}
	}
}

// TestParseDecimal holds the plain-digits fast path to the unescaping
// parser.
func TestParseDecimal(t *testing.T) {
	for _, s := range []string{"", "0", "7", "1642786203573", "999999999999999999", "1000000000000000000",
		"12a", "-1", "+1", `1\s`, `\31`, `1\`, `\`, " 1", "１"} {
		n, ok := ParseDecimal([]byte(s))
		wn, wok := parseEscapedDecimal([]byte(s))
		if n != wn || ok != wok {
			t.Errorf("ParseDecimal(%q) = %d, %v; want %d, %v", s, n, ok, wn, wok)
		}
	}
	if n, ok := ParseDecimal([]byte("1642786203573")); n != 1642786203573 || !ok {
		t.Errorf("parseDecimal = %d, %v", n, ok)
	}
	if _, ok := ParseDecimal([]byte("1000000000000000000")); ok {
		t.Error("19 digits accepted")
	}
}
