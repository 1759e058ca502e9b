package ircv3

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
	"unsafe"
)

func addSeeds(f *testing.F) {
	var split struct {
		Tests []struct {
			Input string `json:"input"`
		} `json:"tests"`
	}
	loadJSON(f, "testdata/irc-parser-tests/msg-split.json", &split)
	for _, v := range split.Tests {
		f.Add([]byte(v.Input))
	}
	for _, c := range twitchCases {
		f.Add([]byte(c.line))
	}
}

// within reports whether sub is empty or lies inside b.
func within(b, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= lo && p+uintptr(len(sub)) <= lo+uintptr(len(b))
}

// FuzzParse: Parse never panics, every view lies inside the input, and a
// line that parses can be written back and parsed to the same atoms.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Parse(line)
		if err != nil {
			return
		}
		if len(m.Command) == 0 {
			t.Fatalf("Parse(%q) succeeded without a command", line)
		}
		views := append([][]byte{m.Tags, m.Source, m.Command}, m.Params()...)
		for _, v := range views {
			if !within(line, v) {
				t.Fatalf("Parse(%q): view %q lies outside the line", line, v)
			}
		}
		it := m.TagIter()
		for it.Next() {
			if !within(line, it.Key()) || !within(line, it.Value()) {
				t.Fatalf("Parse(%q): tag view outside the line", line)
			}
			if v, ok := m.Tag(string(it.Key())); !ok || !within(line, v) {
				t.Fatalf("Parse(%q): Tag(%q) not found", line, it.Key())
			}
		}
		out, err := AppendMessage(nil, &m)
		if err != nil {
			t.Fatalf("AppendMessage(Parse(%q)) error %v", line, err)
		}
		if !bytes.HasSuffix(out, []byte("\r\n")) || bytes.Count(out, []byte("\n")) != 1 {
			t.Fatalf("AppendMessage(Parse(%q)) = %q is not one line", line, out)
		}
		m2, err := Parse(out[:len(out)-2])
		if err != nil {
			t.Fatalf("Parse(AppendMessage(Parse(%q))) = %q: error %v", line, out, err)
		}
		if a, b := toAtoms(&m), toAtoms(&m2); !a.equal(b) {
			t.Fatalf("round trip of %q via %q: %+v != %+v", line, out, a, b)
		}
	})
}

func framerResults(r io.Reader) []result {
	return readAll(NewReader(r, 64))
}

// FuzzFramer: the same input read whole, in two halves and byte by byte
// gives the same lines and errors.
func FuzzFramer(f *testing.F) {
	addSeeds(f)
	f.Add([]byte("a\r\nb\nc\r\r\n\n"))
	f.Add(bytes.Repeat([]byte("x"), 200))
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := framerResults(bytes.NewReader(data))
		half := len(data) / 2
		halves := framerResults(io.MultiReader(bytes.NewReader(data[:half]), bytes.NewReader(data[half:])))
		bytewise := framerResults(iotest.OneByteReader(bytes.NewReader(data)))
		if !equalResults(whole, halves) || !equalResults(whole, bytewise) {
			t.Fatalf("%q: whole %v, halves %v, bytewise %v", data, whole, halves, bytewise)
		}
		for _, r := range whole {
			if len(r.line) > 64 || bytes.ContainsAny([]byte(r.line), "\n") {
				t.Fatalf("%q: bad line %q", data, r.line)
			}
		}
	})
}

// FuzzUnescape: escaping then unescaping gives the value back (NUL, which
// has no escape, is dropped), and unescaping arbitrary input never panics
// and never grows it.
func FuzzUnescape(f *testing.F) {
	f.Add([]byte(`a\:b\sc\\d\re\nf\`))
	f.Add([]byte("plain"))
	f.Add([]byte("; \\\r\n"))
	f.Fuzz(func(t *testing.T, v []byte) {
		if u := AppendUnescaped(nil, v); len(u) > len(v) {
			t.Fatalf("AppendUnescaped(%q) = %q grew", v, u)
		}
		esc := AppendEscaped(nil, v)
		if bytes.ContainsAny(esc, "; \r\n\x00") {
			t.Fatalf("AppendEscaped(%q) = %q contains a forbidden byte", v, esc)
		}
		want := bytes.ReplaceAll(v, []byte{0}, nil)
		if got := AppendUnescaped(nil, esc); !bytes.Equal(got, want) {
			t.Fatalf("AppendUnescaped(AppendEscaped(%q)) = %q", v, got)
		}
	})
}
