package tagindex

import "bytes"

// The raw values of the index are still IRCv3-escaped. These helpers
// compare and parse them as their unescaped form without unescaping them
// into memory; the model and the encoder share them.

// RoomOwner reports whether user-id is present and equals room-id: the
// sender owns the channel (one half of tmi.View.IsBroadcaster).
func (t *Index) RoomOwner() bool {
	uid := t.Get(UserID)
	return len(uid) > 0 && t.ValuesEqual(uid, t.Get(RoomID)) && !UnescapedEqual(uid, nil)
}

// BroadcasterBadge reports whether a raw badge name is broadcaster, the
// badge of the channel's owner (the other half of
// tmi.View.IsBroadcaster, for the encoder that walks the badges anyway).
func BroadcasterBadge(name []byte) bool { return Is(name, "broadcaster") }

// ParseDecimal parses a raw tag value that unescapes to 1 to 18 ASCII
// digits (no sign) as an int64.
func ParseDecimal(raw []byte) (int64, bool) {
	// Plain digits, the way Twitch writes them, without unescaping.
	if uint(len(raw)-1) < 18 { // 1 to 18 bytes
		var n int64
		for _, c := range raw {
			if c-'0' > 9 {
				return parseEscapedDecimal(raw)
			}
			n = n*10 + int64(c-'0')
		}
		return n, true
	}
	return parseEscapedDecimal(raw)
}

// parseEscapedDecimal is ParseDecimal on the unescaped form of raw.
func parseEscapedDecimal(raw []byte) (int64, bool) {
	var n int64
	digits := 0
	for i := 0; ; {
		c, ok := nextUnescaped(raw, &i)
		if !ok {
			break
		}
		if c < '0' || c > '9' || digits == 18 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	return n, digits > 0
}

// nextUnescaped returns the next byte of the unescaped form of raw from
// *i, as ircv3.AppendUnescaped defines it, and advances *i; false at the
// end.
func nextUnescaped(raw []byte, i *int) (byte, bool) {
	if *i >= len(raw) {
		return 0, false
	}
	c := raw[*i]
	*i++
	if c != '\\' {
		return c, true
	}
	if *i == len(raw) {
		return 0, false // a lone trailing backslash is dropped
	}
	c = raw[*i]
	*i++
	switch c {
	case ':':
		return ';', true
	case 's':
		return ' ', true
	case 'r':
		return '\r', true
	case 'n':
		return '\n', true
	}
	return c, true
}

// ValuesEqual is UnescapedEqual for two raw values of t's tags: equal raw
// bytes, or two values the attention mask shows free of escapes, are
// answered without a search for backslashes.
func (t *Index) ValuesEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if t.Plain(a) && t.Plain(b) {
		return false
	}
	return UnescapedEqual(a, b)
}

// UnescapedEqual reports whether two raw tag values unescape to the same
// bytes, without unescaping them into memory.
func UnescapedEqual(a, b []byte) bool {
	if bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0 {
		return bytes.Equal(a, b)
	}
	var i, j int
	for {
		ca, oka := nextUnescaped(a, &i)
		cb, okb := nextUnescaped(b, &j)
		if oka != okb || ca != cb {
			return false
		}
		if !oka {
			return true
		}
	}
}

// Is reports whether a raw tag value unescapes to s (which has no
// backslash).
func Is(raw []byte, s string) bool {
	if string(raw) == s {
		return true
	}
	// Unescaping shortens a value by its escapes and never lengthens it:
	// one no longer than s that is not s cannot become s.
	if len(raw) <= len(s) || bytes.IndexByte(raw, '\\') < 0 {
		return false
	}
	var i int
	for k := 0; k < len(s); k++ {
		if c, ok := nextUnescaped(raw, &i); !ok || c != s[k] {
			return false
		}
	}
	_, more := nextUnescaped(raw, &i)
	return !more
}
