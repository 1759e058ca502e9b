package tagindex

import (
	"strings"
	"testing"
)

func TestKeyTable(t *testing.T) {
	for k := range numKeys {
		if got := Lookup([]byte(k.String())); got != k {
			t.Errorf("Lookup(%q) = %v", k.String(), got)
		}
	}
	near := []string{"", "x", "msg-param-months", "id2", "Id", "colour", "reply-parent"}
	for k := range numKeys {
		// Every name with one byte changed, one more and one less byte:
		// the hash sees only the ends, the comparison must see the rest.
		name := k.String()
		for i := range len(name) {
			near = append(near, name[:i]+"_"+name[i+1:])
		}
		near = append(near, name+"s", name[:len(name)-1], "x"+name)
	}
	k0 := ID.String()
	for _, s := range near {
		if got := Lookup([]byte(s)); got != numKeys {
			t.Errorf("Lookup(%q) = %v, want none", s, got)
		}
		// And through Reset, which reads the key's words from the line.
		// The section is a prefix of its line, whose rest the word
		// loads may see.
		var tags Index
		line := []byte(s + "=1 :" + k0 + " rest of the line")
		tags.Reset(line[:len(s)+2])
		if _, _, k, _ := tags.Item(0); s != "" && k != numKeys {
			t.Errorf("Reset: key %q is %v, want none", s, k)
		}
	}
	var x Index
	if x.Get(numKeys) != nil || Key(250).String() != "" {
		t.Error("out-of-range Key is not empty")
	}
}

func TestIndexEquals(t *testing.T) {
	for _, s := range []string{"", "=", "a", "a=", "=a", "abcdefg=", "abcdefgh=", "abcdefghi", "abcdefgh", "badge-info=subscriber/24",
		"reply-thread-parent-display-name=x=y", "\xff\x80=\x3d", "a\x3c=", "0123456789abcdef", "0123456789abcdef=", "abc;def=g"} {
		// Every start and end, with the bytes past the end visible (as
		// the rest of the line is to reset) holding '='.
		for p := 0; p <= len(s); p++ {
			for end := p; end <= len(s); end++ {
				want := strings.IndexByte(s[p:end], '=')
				for _, buf := range [][]byte{[]byte(s[:end] + "========"), []byte(s[:end])} {
					if got := indexEquals(buf, p, end); got != want {
						t.Errorf("indexEquals(%q, %d, %d) = %d, want %d", buf, p, end, got, want)
					}
				}
			}
		}
	}
}
