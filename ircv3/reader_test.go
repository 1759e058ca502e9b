package ircv3

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns its data in reads of the given sizes, cycling.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := r.sizes[r.i%len(r.sizes)]
	r.i++
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

type result struct {
	line string
	err  error
}

func readAll(r *Reader) []result {
	var out []result
	for i := 0; i < 1<<20; i++ {
		line, err := r.ReadLine()
		if err != nil && err != ErrLineTooLong && err != ErrTruncated {
			if err != io.EOF {
				out = append(out, result{"", err})
			}
			return out
		}
		out = append(out, result{string(line), err})
	}
	panic("reader did not end")
}

func TestReaderLines(t *testing.T) {
	in := "PING :a\r\nPONG :b\n\r\n\nPRIVMSG #c :d e\r\n"
	want := []result{{"PING :a", nil}, {"PONG :b", nil}, {"PRIVMSG #c :d e", nil}}
	for _, sizes := range [][]int{{1 << 20}, {1}, {2}, {3, 7}, {5}} {
		got := readAll(NewReader(&chunkReader{data: []byte(in), sizes: sizes}, 0))
		if !equalResults(got, want) {
			t.Errorf("chunks %v: got %v, want %v", sizes, got, want)
		}
	}
}

func TestReaderSplitAtEveryByte(t *testing.T) {
	in := []byte(twitchPrivmsg + "\r\nPING :tmi.twitch.tv\r\n" + twitchPrivmsg + "\n")
	want := readAll(NewReader(bytes.NewReader(in), 0))
	if len(want) != 3 {
		t.Fatalf("whole input gave %v", want)
	}
	for i := 1; i < len(in); i++ {
		r := io.MultiReader(bytes.NewReader(in[:i]), bytes.NewReader(in[i:]))
		if got := readAll(NewReader(r, 0)); !equalResults(got, want) {
			t.Fatalf("split at %d: got %v, want %v", i, got, want)
		}
	}
	if got := readAll(NewReader(iotest.OneByteReader(bytes.NewReader(in)), 0)); !equalResults(got, want) {
		t.Fatalf("byte by byte: got %v", got)
	}
}

func TestReaderOversizedLineIsSkipped(t *testing.T) {
	long := strings.Repeat("x", 100)
	in := "A :1\r\n" + long + "\r\nB :2\r\n" + long + long + long + "\nC :3\r\n" + long
	want := []result{{"A :1", nil}, {"", ErrLineTooLong}, {"B :2", nil}, {"", ErrLineTooLong}, {"C :3", nil}, {"", ErrLineTooLong}}
	for _, sizes := range [][]int{{1 << 20}, {1}, {7}, {64}} {
		r := NewReader(&chunkReader{data: []byte(in), sizes: sizes}, 50)
		got := readAll(r)
		if !equalResults(got, want) {
			t.Errorf("chunks %v: got %v, want %v", sizes, got, want)
		}
		if r.Oversized() != 3 {
			t.Errorf("chunks %v: Oversized() = %d, want 3", sizes, r.Oversized())
		}
	}
}

func TestReaderMaxLineBoundary(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []result
	}{
		{"aaaa\r\n", []result{{"aaaa", nil}}},
		{"aaaa\n", []result{{"aaaa", nil}}},
		{"aaaaa\r\n", []result{{"", ErrLineTooLong}}},
		{"aaaaa\n", []result{{"", ErrLineTooLong}}},
	} {
		for _, sizes := range [][]int{{100}, {1}} {
			if got := readAll(NewReader(&chunkReader{data: []byte(c.in), sizes: sizes}, 4)); !equalResults(got, c.want) {
				t.Errorf("%q chunks %v: got %v, want %v", c.in, sizes, got, c.want)
			}
		}
	}
}

// TestReaderOneMebibyteWithoutNewline feeds 1 MiB without a newline: the
// reader's buffer must not grow, and it must go on after the newline.
func TestReaderOneMebibyteWithoutNewline(t *testing.T) {
	in := append(bytes.Repeat([]byte("y"), 1<<20), "\r\nPING :ok\r\n"...)
	r := NewReader(bytes.NewReader(in), 0)
	size := len(r.buf)
	got := readAll(r)
	want := []result{{"", ErrLineTooLong}, {"PING :ok", nil}}
	if !equalResults(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(r.buf) != size || size > 64<<10 {
		t.Errorf("buffer is %d bytes, was %d", len(r.buf), size)
	}
}

func TestReaderTruncatedAndErrors(t *testing.T) {
	r := NewReader(strings.NewReader("A :1\r\nB :par"), 0)
	got := readAll(r)
	want := []result{{"A :1", nil}, {"B :par", ErrTruncated}}
	if !equalResults(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	boom := errors.New("boom")
	r = NewReader(io.MultiReader(strings.NewReader("A :1\r\n"), iotest.ErrReader(boom)), 0)
	if line, err := r.ReadLine(); string(line) != "A :1" || err != nil {
		t.Errorf("first ReadLine = %q, %v", line, err)
	}
	if _, err := r.ReadLine(); err != boom {
		t.Errorf("second ReadLine error = %v, want boom", err)
	}
	r = NewReader(emptyReader{}, 0)
	if _, err := r.ReadLine(); err != io.ErrNoProgress {
		t.Errorf("empty reads: error %v, want io.ErrNoProgress", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderReset(t *testing.T) {
	r := NewReader(strings.NewReader("A :partial"), 0)
	r.Reset(strings.NewReader("B :1\r\n"))
	if got := readAll(r); !equalResults(got, []result{{"B :1", nil}}) {
		t.Errorf("after Reset: %v", got)
	}
}

func equalResults(a, b []result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
