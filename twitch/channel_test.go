package twitch

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeChannel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"xqc", "xqc"},
		{"#xqc", "xqc"},
		{"#Some_Channel", "some_channel"},
		{"SHROUD", "shroud"},
		{"a", "a"},
		{"_under_score_", "_under_score_"},
		{"chan042", "chan042"},
		{strings.Repeat("z", 25), strings.Repeat("z", 25)},
		{"#" + strings.Repeat("Z", 25), strings.Repeat("z", 25)},
	} {
		got, err := NormalizeChannel(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeChannel(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, reason string }{
		{"", "empty"},
		{"#", "empty"},
		{"##a", `'#'`},
		{"a b", `' '`},
		{" a", `' '`},
		{"a,b", `','`},
		{"x\r\nQUIT", `'\r'`},
		{"a\x01b", `'\x01'`},
		{"nul\x00", `'\x00'`},
		{"ÄÖÜ", `'Ä'`},
		{"caf\u00e9", `'é'`},
		{"\xff", `'�'`},
		{"../../etc", `'.'`},
		{"a/b", `'/'`},
		{"test-chan", `'-'`},
		{"a:b", `':'`},
		{strings.Repeat("z", 26), "longer than 25"},
		{strings.Repeat("z", 1<<20), "longer than 25"},
	} {
		got, err := NormalizeChannel(tc.in)
		if !errors.Is(err, ErrInvalidChannel) {
			t.Errorf("NormalizeChannel(%.40q) = %q, %v, want ErrInvalidChannel", tc.in, got, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.reason) || len(msg) > 300 {
			t.Errorf("NormalizeChannel(%.40q) error %.400q, want the reason %s in under 300 bytes", tc.in, msg, tc.reason)
		}
	}
}
