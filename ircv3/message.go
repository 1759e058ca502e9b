package ircv3

import (
	"bytes"
	"errors"
)

// MaxParams is the most parameters a message has. As in RFC 2812, after 14
// middle parameters the rest of the line is the 15th, trailing one, with or
// without its leading ':'.
const MaxParams = 15

// Errors returned by Parse, the Reader and the builders. They are sentinels:
// the hot path never formats an error.
var (
	// ErrEmpty is returned by Parse for a line with nothing in it.
	ErrEmpty = errors.New("ircv3: empty line")
	// ErrNoCommand is returned by Parse for a line with tags or a source
	// but no command.
	ErrNoCommand = errors.New("ircv3: no command")
	// ErrEmptySource is returned by Parse for a ':' prefix with no source.
	ErrEmptySource = errors.New("ircv3: empty source")
	// ErrInvalidByte is returned by Parse for a line that contains NUL, CR
	// or LF. (The line ending itself is removed by the framer.)
	ErrInvalidByte = errors.New("ircv3: NUL, CR or LF in line")
	// ErrLineTooLong is returned by Reader.ReadLine for a line longer than
	// its limit (the line is discarded up to its newline and the reader
	// goes on), and by builders whose line would exceed 512 bytes.
	ErrLineTooLong = errors.New("ircv3: line too long")
	// ErrTruncated is returned by Reader.ReadLine together with the bytes
	// that followed the last newline when the stream ended in mid-line.
	ErrTruncated = errors.New("ircv3: stream ended in mid-line")
	// ErrInvalidParam is returned by builders for a parameter that contains
	// NUL, CR or LF, or a middle parameter that is empty, contains a space
	// or begins with ':'.
	ErrInvalidParam = errors.New("ircv3: invalid parameter")
)

// Message is one parsed IRC line. Its byte slices are views into the line
// given to Parse and stay valid while that line does; a Message holds no
// other memory and may be reused by calling Parse again.
type Message struct {
	// Tags is the raw tag section without its '@', still escaped; empty
	// when the line has no tags. Use Tag, TagIter and AppendUnescaped.
	Tags []byte
	// Source is the prefix without its ':', empty when absent. SplitSource
	// splits it into nick, user and host.
	Source []byte
	// Command is the verb: a word such as PRIVMSG or a numeric such as 001.
	Command []byte

	params  [MaxParams][]byte
	nparams int
}

// Parse parses one line, without its line ending, into a Message whose
// parts are views into line. It does not allocate.
func Parse(line []byte) (Message, error) {
	var m Message
	err := m.Parse(line)
	return m, err
}

// Parse is like the function Parse but fills m, so that a caller can keep
// one Message and reuse it for every line. On error m is left empty.
func (m *Message) Parse(line []byte) error {
	m.Tags, m.Source, m.Command, m.nparams = nil, nil, nil, 0
	if len(line) == 0 {
		return ErrEmpty
	}
	if hasInvalidByte(line) {
		return ErrInvalidByte
	}
	if line[0] == '@' {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return ErrNoCommand
		}
		m.Tags = line[1:sp]
		line = trimSpaces(line[sp+1:])
	} else {
		line = trimSpaces(line)
	}
	if len(line) > 0 && line[0] == ':' {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			m.Tags = nil
			return ErrNoCommand
		}
		if sp == 1 {
			m.Tags = nil
			return ErrEmptySource
		}
		m.Source = line[1:sp]
		line = trimSpaces(line[sp+1:])
	}
	if len(line) == 0 {
		// A line of spaces, or tags or a source with nothing after them.
		m.Tags, m.Source = nil, nil
		return ErrNoCommand
	}
	if line[0] == '@' || line[0] == ':' {
		// Only a line's first byte introduces tags, and only the first atom
		// after them a source: a command that begins with '@' or ':' (":a :b")
		// could not be written back unambiguously.
		m.Tags, m.Source = nil, nil
		return ErrNoCommand
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		m.Command = line
		return nil
	}
	m.Command = line[:sp]
	line = line[sp+1:]
	for {
		line = trimSpaces(line)
		if len(line) == 0 {
			return nil
		}
		if line[0] == ':' {
			m.params[m.nparams] = line[1:]
			m.nparams++
			return nil
		}
		if m.nparams == MaxParams-1 {
			m.params[m.nparams] = line
			m.nparams++
			return nil
		}
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			m.params[m.nparams] = line
			m.nparams++
			return nil
		}
		m.params[m.nparams] = line[:sp]
		m.nparams++
		line = line[sp+1:]
	}
}

// hasInvalidByte reports whether b contains NUL, CR or LF. Three
// vectorised IndexByte scans beat one byte loop on lines of Twitch's size.
func hasInvalidByte(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || bytes.IndexByte(b, '\r') >= 0 || bytes.IndexByte(b, '\n') >= 0
}

func trimSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b
}

// NumParams returns the number of parameters.
func (m *Message) NumParams() int { return m.nparams }

// Param returns parameter i (from 0), or nil when there is no such
// parameter.
func (m *Message) Param(i int) []byte {
	if i < 0 || i >= m.nparams {
		return nil
	}
	return m.params[i]
}

// Params returns the parameters as a slice of m's own storage: it is valid
// while m is not parsed again.
func (m *Message) Params() [][]byte { return m.params[:m.nparams] }

// Trailing returns the last parameter, or nil when there is none.
func (m *Message) Trailing() []byte {
	if m.nparams == 0 {
		return nil
	}
	return m.params[m.nparams-1]
}

// IsCommand reports whether the command equals cmd. Commands are matched
// exactly: Twitch sends them in upper case.
func (m *Message) IsCommand(cmd string) bool { return string(m.Command) == cmd }

// Nick returns the nick part of the source (see SplitSource).
func (m *Message) Nick() []byte {
	nick, _, _ := SplitSource(m.Source)
	return nick
}

// SplitSource splits a source of the form nick[!user][@host] into its
// parts. A part that is absent is empty.
func SplitSource(src []byte) (nick, user, host []byte) {
	if at := bytes.IndexByte(src, '@'); at >= 0 {
		host = src[at+1:]
		src = src[:at]
	}
	if ex := bytes.IndexByte(src, '!'); ex >= 0 {
		user = src[ex+1:]
		src = src[:ex]
	}
	return src, user, host
}
