package ircv3

import (
	"bytes"
	"strings"
)

// MaxLineLen is the longest line, CRLF included and tags excluded, that
// the builders produce, as RFC 1459 allows.
const MaxLineLen = 512

// The builders below append one or more complete lines, each ending in
// "\r\n", to dst and return the extended buffer. On error they return dst
// unchanged. None of them can produce a second line from a parameter: CR,
// LF and NUL are refused everywhere, and a middle parameter may not be
// empty, contain a space or begin with ':'.

// AppendCommand appends "<command> <params...>\r\n". The last parameter is
// written as a trailing one (with ':') when it needs it.
func AppendCommand(dst []byte, command string, params ...string) ([]byte, error) {
	if !validMiddle(command) {
		return dst, ErrInvalidParam
	}
	start := len(dst)
	dst = append(dst, command...)
	for i, p := range params {
		last := i == len(params)-1
		switch {
		case last && !validTrailing(p):
			return dst[:start], ErrInvalidParam
		case !last && !validMiddle(p):
			return dst[:start], ErrInvalidParam
		}
		dst = append(dst, ' ')
		if last && needsColon(p) {
			dst = append(dst, ':')
		}
		dst = append(dst, p...)
	}
	if len(dst)-start+2 > MaxLineLen {
		return dst[:start], ErrLineTooLong
	}
	return append(dst, '\r', '\n'), nil
}

// AppendMessage appends m as one line: its raw tags, source, command and
// parameters. It is the inverse of Parse: parsing the line gives m's atoms
// back. Tags must already be escaped (see AppendEscaped). Unlike the other
// builders it does not limit the line to 512 bytes, since it also
// re-serialises lines received from servers.
func AppendMessage(dst []byte, m *Message) ([]byte, error) {
	start := len(dst)
	if len(m.Tags) > 0 {
		if bytes.IndexByte(m.Tags, ' ') >= 0 || hasInvalidByte(m.Tags) {
			return dst, ErrInvalidParam
		}
		dst = append(dst, '@')
		dst = append(dst, m.Tags...)
		dst = append(dst, ' ')
	}
	if len(m.Source) > 0 {
		if bytes.IndexByte(m.Source, ' ') >= 0 || hasInvalidByte(m.Source) {
			return dst[:start], ErrInvalidParam
		}
		dst = append(dst, ':')
		dst = append(dst, m.Source...)
		dst = append(dst, ' ')
	}
	if !validMiddle(string(m.Command)) || m.Command[0] == '@' {
		return dst[:start], ErrInvalidParam
	}
	dst = append(dst, m.Command...)
	params := m.Params()
	for i, p := range params {
		last := i == len(params)-1
		switch {
		case last && !validTrailing(string(p)):
			return dst[:start], ErrInvalidParam
		case !last && !validMiddle(string(p)):
			return dst[:start], ErrInvalidParam
		}
		dst = append(dst, ' ')
		if last && needsColon(string(p)) {
			dst = append(dst, ':')
		}
		dst = append(dst, p...)
	}
	return append(dst, '\r', '\n'), nil
}

// AppendCapReq appends "CAP REQ :<caps>\r\n".
func AppendCapReq(dst []byte, caps ...string) ([]byte, error) {
	start := len(dst)
	dst = append(dst, "CAP REQ :"...)
	for i, c := range caps {
		if !validMiddle(c) {
			return dst[:start], ErrInvalidParam
		}
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, c...)
	}
	if len(dst)-start+2 > MaxLineLen {
		return dst[:start], ErrLineTooLong
	}
	return append(dst, '\r', '\n'), nil
}

// AppendCapEnd appends "CAP END\r\n".
func AppendCapEnd(dst []byte) []byte { return append(dst, "CAP END\r\n"...) }

// AppendPass appends "PASS <password>\r\n".
func AppendPass(dst []byte, password string) ([]byte, error) {
	return AppendCommand(dst, "PASS", password)
}

// AppendNick appends "NICK <nick>\r\n".
func AppendNick(dst []byte, nick string) ([]byte, error) {
	if !validMiddle(nick) {
		return dst, ErrInvalidParam
	}
	return AppendCommand(dst, "NICK", nick)
}

// AppendUser appends "USER <user> 0 * :<realname>\r\n" (RFC 2812), which
// generic IRC servers need for registration; Twitch ignores it.
func AppendUser(dst []byte, user, realname string) ([]byte, error) {
	return AppendCommand(dst, "USER", user, "0", "*", realname)
}

// AppendJoin appends JOIN lines for the channels (names as sent, with their
// '#'), joined with commas and split so that no line exceeds MaxLineLen.
func AppendJoin(dst []byte, channels ...string) ([]byte, error) {
	return appendChannelList(dst, "JOIN ", channels)
}

// AppendPart appends PART lines for the channels, split like AppendJoin.
func AppendPart(dst []byte, channels ...string) ([]byte, error) {
	return appendChannelList(dst, "PART ", channels)
}

func appendChannelList(dst []byte, cmd string, channels []string) ([]byte, error) {
	start := len(dst)
	lineStart := -1
	for _, ch := range channels {
		if !validMiddle(ch) || strings.IndexByte(ch, ',') >= 0 {
			return dst[:start], ErrInvalidParam
		}
		if len(cmd)+len(ch)+2 > MaxLineLen {
			return dst[:start], ErrLineTooLong
		}
		if lineStart >= 0 && len(dst)-lineStart+1+len(ch)+2 <= MaxLineLen {
			dst = append(dst, ',')
			dst = append(dst, ch...)
			continue
		}
		if lineStart >= 0 {
			dst = append(dst, '\r', '\n')
		}
		lineStart = len(dst)
		dst = append(dst, cmd...)
		dst = append(dst, ch...)
	}
	if lineStart >= 0 {
		dst = append(dst, '\r', '\n')
	}
	return dst, nil
}

// AppendPing appends "PING :<token>\r\n".
func AppendPing(dst []byte, token []byte) ([]byte, error) {
	return appendTokenLine(dst, "PING :", token)
}

// AppendPong appends "PONG :<token>\r\n", the answer to a PING whose last
// parameter is token.
func AppendPong(dst []byte, token []byte) ([]byte, error) {
	return appendTokenLine(dst, "PONG :", token)
}

func appendTokenLine(dst []byte, prefix string, token []byte) ([]byte, error) {
	if hasInvalidByte(token) {
		return dst, ErrInvalidParam
	}
	if len(prefix)+len(token)+2 > MaxLineLen {
		return dst, ErrLineTooLong
	}
	dst = append(dst, prefix...)
	dst = append(dst, token...)
	return append(dst, '\r', '\n'), nil
}

// AppendPrivmsg appends "PRIVMSG <target> :<text>\r\n".
func AppendPrivmsg(dst []byte, target, text string) ([]byte, error) {
	return AppendCommand(dst, "PRIVMSG", target, text)
}

func validMiddle(p string) bool {
	if len(p) == 0 || p[0] == ':' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case ' ', 0, '\r', '\n':
			return false
		}
	}
	return true
}

func validTrailing(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case 0, '\r', '\n':
			return false
		}
	}
	return true
}

func needsColon(p string) bool {
	if len(p) == 0 || p[0] == ':' {
		return true
	}
	for i := 0; i < len(p); i++ {
		if p[i] == ' ' {
			return true
		}
	}
	return false
}
