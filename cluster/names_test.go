package cluster

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeChannel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SomeOne", "someone"},
		{" #chan_1 ", "chan_1"},
		{"a-b", "a-b"},
		{"9lives", "9lives"},
	} {
		if got, err := NormalizeChannel(tc.in); err != nil || got != tc.want {
			t.Errorf("NormalizeChannel(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "#", "_probe", "-x", "a.b", "a b", "a*", "a>", "é", strings.Repeat("a", 65)} {
		if got, err := NormalizeChannel(in); !errors.Is(err, ErrInvalidChannel) {
			t.Errorf("NormalizeChannel(%q) = %q, %v, want ErrInvalidChannel", in, got, err)
		}
	}
}

func TestInstanceIDs(t *testing.T) {
	if got := sanitizeKey("pod.ns.svc:8080/x"); got != "pod-ns-svc-8080-x" {
		t.Errorf("sanitizeKey = %q", got)
	}
	a, b := DefaultInstance(), DefaultInstance()
	if a == b || sanitizeKey(a) != a {
		t.Errorf("DefaultInstance() = %q, %q: want two different valid ids", a, b)
	}
}
