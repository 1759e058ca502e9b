package ircv3

import (
	"bytes"
	"strings"
	"unsafe"
)

// Tag returns the raw (still escaped) value of the tag named key, and
// whether it is present. A tag without '=' has an empty value. When a key
// appears more than once the last one wins, as the IRCv3 message-tags
// specification says: "Implementations ... MUST only use the final
// occurrence".
//
// It searches the tag section for key with the vectorised strings.Index
// and accepts a hit only at the start of an item; a raw value cannot
// contain ';', so such a hit is always a key (BenchmarkTagLookup).
func (m *Message) Tag(key string) (value []byte, ok bool) {
	tags := m.Tags
	if len(key) == 0 || len(tags) < len(key) {
		return m.tagSlow(key)
	}
	s := unsafe.String(unsafe.SliceData(tags), len(tags))
	for off := 0; off < len(s); {
		i := strings.Index(s[off:], key)
		if i < 0 {
			break
		}
		p := off + i
		end := p + len(key)
		off = end
		if p > 0 && s[p-1] != ';' {
			continue
		}
		switch {
		case end == len(s) || s[end] == ';':
			value, ok = tags[end:end], true
		case s[end] == '=':
			vend := strings.IndexByte(s[end+1:], ';')
			if vend < 0 {
				vend = len(s)
			} else {
				vend += end + 1
			}
			value, ok = tags[end+1:vend], true
			off = vend
		}
	}
	return value, ok
}

// tagSlow is Tag by walking every item, for the empty key.
func (m *Message) tagSlow(key string) (value []byte, ok bool) {
	it := m.TagIter()
	for it.Next() {
		if string(it.key) == key {
			value, ok = it.value, true
		}
	}
	return value, ok
}

// HasTag reports whether the tag named key is present.
func (m *Message) HasTag(key string) bool {
	_, ok := m.Tag(key)
	return ok
}

// TagIter iterates over the raw tags of a message in the order they
// appear, duplicates included. Its zero value is an empty iteration.
//
//	it := m.TagIter()
//	for it.Next() {
//		use(it.Key(), it.Value())
//	}
type TagIter struct {
	rest       []byte
	key, value []byte
}

// TagIter returns an iterator over m's tags.
func (m *Message) TagIter() TagIter { return TagIter{rest: m.Tags} }

// Next advances to the next tag and reports whether there is one. Empty
// items (";;") are skipped.
func (it *TagIter) Next() bool {
	for len(it.rest) > 0 {
		item := it.rest
		if semi := bytes.IndexByte(it.rest, ';'); semi >= 0 {
			item = it.rest[:semi]
			it.rest = it.rest[semi+1:]
		} else {
			it.rest = nil
		}
		if len(item) == 0 {
			continue
		}
		if eq := bytes.IndexByte(item, '='); eq >= 0 {
			it.key, it.value = item[:eq], item[eq+1:]
		} else {
			it.key, it.value = item, item[len(item):]
		}
		return true
	}
	it.key, it.value = nil, nil
	return false
}

// Key returns the current tag's key, with its client prefix ('+') and
// vendor, if any.
func (it *TagIter) Key() []byte { return it.key }

// Value returns the current tag's raw, escaped value.
func (it *TagIter) Value() []byte { return it.value }

// AppendUnescaped appends the unescaped form of the raw tag value to dst
// and returns the extended buffer. It implements the IRCv3 escaping rules
// exactly: \: is ';', \s is ' ', \\ is '\', \r is CR, \n is LF; "If a
// backslash is followed by any other character, the backslash SHOULD be
// dropped"; a lone trailing backslash is dropped. A value without a
// backslash is copied as it is.
func AppendUnescaped(dst, raw []byte) []byte {
	i := bytes.IndexByte(raw, '\\')
	if i < 0 {
		return append(dst, raw...)
	}
	dst = append(dst, raw[:i]...)
	for ; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i == len(raw) {
			break
		}
		switch c = raw[i]; c {
		case ':':
			dst = append(dst, ';')
		case 's':
			dst = append(dst, ' ')
		case 'r':
			dst = append(dst, '\r')
		case 'n':
			dst = append(dst, '\n')
		default: // '\\' and any other character stand for themselves
			dst = append(dst, c)
		}
	}
	return dst
}

// AppendEscaped appends value escaped for use as a tag value to dst and
// returns the extended buffer; AppendUnescaped reverses it. NUL has no
// escape in IRCv3 and is dropped.
func AppendEscaped(dst, value []byte) []byte {
	for _, c := range value {
		switch c {
		case ';':
			dst = append(dst, '\\', ':')
		case ' ':
			dst = append(dst, '\\', 's')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\n':
			dst = append(dst, '\\', 'n')
		case 0:
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
