package envelope

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

const hexDigits = "0123456789abcdef"

// htmlSafe[b] is true for the ASCII bytes encoding/json writes as they are
// when it escapes HTML (json.Marshal's default): every printable byte but
// '"', '\\', '<', '>' and '&'.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainWord reports whether none of the 8 bytes of x needs attention from
// the JSON escaper: no control byte, no '"', '\\', '<', '>', '&', no byte
// >= 0x80. It is the word-at-a-time ("SWAR") test for a zero byte,
// (v - 0x01..) & ^v & 0x80.., without the & ^v: a byte >= 0x80 is flagged
// by x itself, and a borrow only runs on from a byte that is flagged. '"'
// (0x22) and '&' (0x26) differ only in bit 2, '<' (0x3c) and '>' (0x3e)
// only in bit 1: one test covers each pair.
func plainWord(x uint64) bool {
	a := x - ones*0x20                        // < 0x20
	b := ((x | ones*0x04) ^ ones*0x26) - ones // '"' or '&'
	c := ((x | ones*0x02) ^ ones*0x3e) - ones // '<' or '>'
	d := (x ^ ones*'\\') - ones               // '\\'
	return (x|a|b|c|d)&highs == 0
}

// plainTextWord is plainWord for text known to be valid UTF-8: bytes >=
// 0x80 need no attention, except 0xE2, the first byte of U+2028 and
// U+2029. Each test is the exact-for-the-lowest-byte zero test
// (v - 0x01..) & ^v & 0x80..: a flag above a flagged byte may be false,
// which only sends a plain word to the byte loop.
func plainTextWord(x uint64) bool {
	ctl := (x - ones*0x20) & ^x       // < 0x20
	qa := (x | ones*0x04) ^ ones*0x26 // '"' or '&'
	lg := (x | ones*0x02) ^ ones*0x3e // '<' or '>'
	bs := x ^ ones*'\\'               // '\\'
	e2 := x ^ ones*0xe2               // U+2028, U+2029 lead byte
	return (ctl|(qa-ones)&^qa|(lg-ones)&^lg|(bs-ones)&^bs|(e2-ones)&^e2)&highs == 0
}

// plainASCII reports whether s is printable ASCII with nothing to escape
// (plainWord for every byte), without reading outside s: a word at a
// time and a last word that overlaps the one before, or byte by byte
// below eight bytes. Channels and logins are, and then need no escaper.
func plainASCII(s []byte) bool {
	n := len(s)
	if n < 8 {
		for _, b := range s {
			if b >= utf8.RuneSelf || !htmlSafe[b] {
				return false
			}
		}
		return true
	}
	for i := 0; i+8 <= n; i += 8 {
		if !plainWord(binary.LittleEndian.Uint64(s[i:])) {
			return false
		}
	}
	return plainWord(binary.LittleEndian.Uint64(s[n-8:]))
}

// appendValidText appends s, which must be valid UTF-8, as a JSON string,
// exactly as appendString would: knowing the UTF-8 valid, it steps over
// non-ASCII text eight bytes at a time instead of decoding it rune by rune.
func appendValidText(dst, s []byte) []byte {
	dst = append(dst, '"')
	start, i := 0, 0
	for i < len(s) {
		for i+8 <= len(s) && plainTextWord(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b >= utf8.RuneSelf {
			if b == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xa8 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xf])
				i += 3
				start = i
				continue
			}
			i++
			continue
		}
		if htmlSafe[b] {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = appendASCII(dst, b)
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendString appends s to dst as a JSON string, escaped exactly as
// encoding/json's Marshal escapes a string (HTMLEscape on, its default):
// '"' and '\\' with a backslash; \b \f \n \r \t by name; other control
// bytes, '<', '>' and '&' as \u00XX; U+2028 and U+2029 as \u2028 and
// \u2029; each byte of invalid UTF-8 as \ufffd, which also sets *bad. It
// is encoding/json's appendString with a word-at-a-time scan over runs of
// plain ASCII.
func appendString(dst, s []byte, bad *bool) []byte {
	dst = append(dst, '"')
	dst, _ = appendStringBody(dst, s, false, bad)
	return append(dst, '"')
}

// appendTagString appends the unescaped form of a raw IRCv3 tag value
// (ircv3.AppendUnescaped) as a JSON string, in one pass and without a
// scratch copy: the IRC escapes are undone where the JSON escaper stops at
// the backslash anyway. A backslash before a non-ASCII byte could join the
// bytes around it into one character; that rare case is unescaped first.
func appendTagString(dst, raw []byte, bad *bool, scratch *[]byte) []byte {
	start, wasBad := len(dst), *bad
	dst = append(dst, '"')
	dst, ok := appendStringBody(dst, raw, true, bad)
	if !ok {
		*bad = wasBad
		*scratch = ircv3.AppendUnescaped((*scratch)[:0], raw)
		dst = append(dst[:start], '"')
		dst, _ = appendStringBody(dst, *scratch, false, bad)
	}
	return append(dst, '"')
}

// appendStringBody writes the escaped body of a JSON string. With tag set,
// s is a raw IRCv3 tag value, unescaped on the way; it returns false,
// having written a partial body, when a backslash precedes a non-ASCII
// byte.
func appendStringBody(dst, s []byte, tag bool, bad *bool) ([]byte, bool) {
	start, i := 0, 0
	for i < len(s) {
		for i+8 <= len(s) && plainWord(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			if b == '\\' && tag {
				i++
				if i == len(s) {
					start = i // a lone trailing backslash is dropped
					break
				}
				switch b = s[i]; b {
				case ':':
					b = ';'
				case 's':
					b = ' '
				case 'r':
					b = '\r'
				case 'n':
					b = '\n'
				default:
					if b >= utf8.RuneSelf {
						return dst, false
					}
				}
			}
			dst = appendASCII(dst, b) // an unescaped ';' or ' ' is written as it is
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			*bad = true
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...), true
}

// appendASCII appends an ASCII byte as encoding/json writes it inside a
// string: '"' and '\\' with a backslash; \b \f \n \r \t by name; other
// control bytes, '<', '>' and '&' as \u00XX; any other byte as it is.
func appendASCII(dst []byte, b byte) []byte {
	switch b {
	case '\\', '"':
		return append(dst, '\\', b)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if htmlSafe[b] {
		return append(dst, b)
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
}

// appendInt appends the decimal form of n >= 0.
func appendInt(dst []byte, n int64) []byte {
	if n < 10 {
		return append(dst, byte('0'+n))
	}
	var buf [20]byte
	i := len(buf)
	for n >= 10 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	buf[i] = byte('0' + n)
	return append(dst, buf[i:]...)
}

// appendBool appends true or false.
func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}
