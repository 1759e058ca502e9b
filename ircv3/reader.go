package ircv3

import (
	"bytes"
	"io"
)

// DefaultMaxLine is the default limit on a line's length, without its line
// ending. Twitch's longest lines (USERNOTICE with a full tag set) stay far
// below it.
const DefaultMaxLine = 16 << 10

// minBufSize is the smallest read buffer a Reader uses.
const minBufSize = 32 << 10

// Reader cuts a byte stream into lines. It reads into one fixed buffer that
// it reuses: a line it returns is a view into that buffer, valid until the
// next call to ReadLine. It accepts "\r\n" and a bare "\n" as line endings
// and skips empty lines.
//
// A line longer than the limit is not returned: the Reader discards it up
// to its newline, counts it, returns ErrLineTooLong for it, and goes on with
// the next line on the next call. Its memory use is therefore bounded by
// the buffer whatever the peer sends.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	rd         io.Reader
	buf        []byte
	start, end int // unread data is buf[start:end]
	scanned    int // buf[start:start+scanned] has no '\n'
	max        int
	discarding bool // inside an oversized line, dropping bytes to its '\n'
	err        error
	oversized  uint64
}

// NewReader returns a Reader of rd that accepts lines of at most maxLine
// bytes without their line ending (DefaultMaxLine when maxLine <= 0).
func NewReader(rd io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	size := max(maxLine+2, minBufSize)
	return &Reader{rd: rd, buf: make([]byte, size), max: maxLine}
}

// Reset makes r read from rd, keeping its buffer and limit, and clears its
// state (not its Oversized count).
func (r *Reader) Reset(rd io.Reader) {
	r.rd, r.start, r.end, r.scanned, r.discarding, r.err = rd, 0, 0, 0, false, nil
}

// Oversized returns how many lines were discarded for being too long.
func (r *Reader) Oversized() uint64 { return r.oversized }

// Buffered returns how many bytes are read but not yet returned.
func (r *Reader) Buffered() int { return r.end - r.start }

// ReadLine returns the next non-empty line without its line ending. The line
// is a view into r's buffer, valid until the next call.
//
// It returns ErrLineTooLong (and no line) once for each line over the limit;
// reading may go on. When the stream ends after a partial line it returns
// that partial line with ErrTruncated, and the stream's error after it. A
// read error is returned once every complete line before it was returned.
func (r *Reader) ReadLine() ([]byte, error) {
	empty := 0
	for {
		if i := bytes.IndexByte(r.buf[r.start+r.scanned:r.end], '\n'); i >= 0 {
			nl := r.start + r.scanned + i
			line := r.buf[r.start:nl]
			r.start, r.scanned = nl+1, 0
			if r.discarding {
				r.discarding = false
				r.oversized++
				return nil, ErrLineTooLong
			}
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			if len(line) > r.max {
				r.oversized++
				return nil, ErrLineTooLong
			}
			if len(line) == 0 {
				continue
			}
			return line, nil
		}
		r.scanned = r.end - r.start
		if r.scanned > r.max+1 { // max bytes and a CR are allowed before '\n'
			r.discarding = true
		}
		if r.discarding {
			r.start, r.end, r.scanned = 0, 0, 0
		}
		if r.err != nil {
			err := r.err
			if r.start < r.end {
				line := r.buf[r.start:r.end]
				r.start, r.end, r.scanned = 0, 0, 0
				if len(line) > r.max {
					r.oversized++
					return nil, ErrLineTooLong
				}
				return line, ErrTruncated
			}
			if r.discarding {
				r.discarding = false
				r.oversized++
				return nil, ErrLineTooLong
			}
			return nil, err
		}
		if r.start > 0 {
			copy(r.buf, r.buf[r.start:r.end])
			r.end -= r.start
			r.start = 0
		}
		n, err := r.rd.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			n, err = 0, io.ErrNoProgress // a broken io.Reader must not corrupt the buffer
		}
		r.end += n
		r.err = err
		if n == 0 && err == nil {
			if empty++; empty >= 100 {
				r.err = io.ErrNoProgress
			}
		}
	}
}

// NextLine cuts the first line from data, which holds one or more lines
// (a WebSocket message, say): it returns that line without its "\r\n" or
// "\n", and the rest after it. Data without a newline is one line. The
// returned slices are views into data. Callers skip empty lines and apply
// their own length limit.
func NextLine(data []byte) (line, rest []byte) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		line = data
	} else {
		line, rest = data[:i], data[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}
