package tmi

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// BadgeIter iterates over a badges, badge-info or source-badges tag: a
// comma-separated list of name/version items. Each item is split at its
// first '/' only: versions are free strings ("predictions/blue-1",
// badge-info's "predictions/Day\s53/53\sforsenSmug"). An item without a
// '/' or with an empty name, and an empty item (a trailing comma), is
// skipped and remembered by Malformed. Name and Version are raw views into
// the line (use ircv3.AppendUnescaped). Its zero value is an empty
// iteration.
type BadgeIter struct {
	rest          []byte
	name, version []byte
	malformed     bool
}

// Next advances to the next well-formed badge and reports whether there is
// one.
func (it *BadgeIter) Next() bool {
	for len(it.rest) > 0 {
		item := it.rest
		if c := bytes.IndexByte(it.rest, ','); c >= 0 {
			item, it.rest = it.rest[:c], it.rest[c+1:]
			if len(it.rest) == 0 {
				it.malformed = true // a trailing comma
			}
		} else {
			it.rest = nil
		}
		slash := bytes.IndexByte(item, '/')
		if slash <= 0 {
			it.malformed = true
			continue
		}
		it.name, it.version = item[:slash], item[slash+1:]
		return true
	}
	it.name, it.version = nil, nil
	return false
}

// Name returns the current badge's raw name.
func (it *BadgeIter) Name() []byte { return it.name }

// Version returns the current badge's raw version (everything after the
// first '/').
func (it *BadgeIter) Version() []byte { return it.version }

// Malformed reports whether an item was skipped so far.
func (it *BadgeIter) Malformed() bool { return it.malformed }

// EmoteProblem says what EmoteIter skipped or corrected.
type EmoteProblem uint8

// The problems an emotes tag may have.
const (
	// EmoteMalformed: an item that is not id:start-end[,start-end...]
	// (missing id, ':', '-', a non-numeric or too long position, an empty
	// item); it is skipped.
	EmoteMalformed EmoteProblem = 1 << iota
	// EmoteOutOfRange: a reversed range or one that starts past the text
	// is skipped; one that ends past the text is clamped to its end.
	EmoteOutOfRange
)

// maxPosDigits bounds an emote position: Twitch texts are at most 500
// characters, and 9 digits cannot overflow an int.
const maxPosDigits = 9

// EmoteIter iterates over an emotes tag, "id:start-end,start-end/id:...",
// whose positions count Unicode code points of the text, end inclusive (an
// invalid UTF-8 byte counts as one). Emotes come in tag order (grouped by
// id). Bad ranges are clamped or skipped as EmoteProblem says; it never
// panics. Its zero value is an empty iteration.
type EmoteIter struct {
	rest   []byte // groups after the current one
	id     []byte
	ranges []byte // ranges of the current group not yet seen
	text   []byte

	ascii   int8 // 0 unknown, else textASCII, textUTF8 or textInvalid
	valid   bool // the View found text valid UTF-8 (View.TextValidUTF8)
	cp, off int  // cursor: code point cp starts at byte off

	start, end   int
	bstart, bend int
	problems     EmoteProblem
	inGroup      bool
}

// Next advances to the next usable emote and reports whether there is one.
func (it *EmoteIter) Next() bool {
	for {
		if !it.inGroup {
			if len(it.rest) == 0 {
				it.id = nil
				return false
			}
			group := it.rest
			if s := bytes.IndexByte(it.rest, '/'); s >= 0 {
				group, it.rest = it.rest[:s], it.rest[s+1:]
				if len(it.rest) == 0 {
					it.problems |= EmoteMalformed // a trailing '/'
				}
			} else {
				it.rest = nil
			}
			colon := bytes.IndexByte(group, ':')
			if colon <= 0 || colon == len(group)-1 {
				it.problems |= EmoteMalformed
				continue
			}
			it.id, it.ranges, it.inGroup = group[:colon], group[colon+1:], true
		}
		// One pass over "start-end" up to the next ',' (or the end), the
		// way most ranges are; a malformed one is skipped to its ','.
		r := it.ranges
		start, i := leadingDigits(r, 0)
		end, k := 0, 0
		ok := i > 0 && i <= maxPosDigits && i < len(r) && r[i] == '-'
		if ok {
			end, k = leadingDigits(r, i+1)
			ok = k > i+1 && k-(i+1) <= maxPosDigits && (k == len(r) || r[k] == ',')
		}
		if !ok {
			k = bytes.IndexByte(r, ',')
			if k < 0 {
				k = len(r)
			}
			it.problems |= EmoteMalformed
		}
		if k < len(r) {
			it.ranges = r[k+1:]
		} else {
			it.ranges, it.inGroup = nil, false
		}
		if !ok {
			continue
		}
		if start > end {
			it.problems |= EmoteOutOfRange
			continue
		}
		bstart := it.offset(start)
		if bstart < 0 || bstart == len(it.text) {
			it.problems |= EmoteOutOfRange
			continue
		}
		bend := it.offset(end + 1)
		if bend < 0 {
			// The cursor stopped at the end of the text.
			bend, end = len(it.text), it.cp-1
			it.problems |= EmoteOutOfRange
		}
		it.start, it.end, it.bstart, it.bend = start, end, bstart, bend
		return true
	}
}

// offset returns the byte offset of code point cp in the text, len(text)
// when cp is the number of code points, and -1 when cp is beyond that
// (the cursor is then left at the end of the text).
func (it *EmoteIter) offset(cp int) int {
	if it.ascii == 0 {
		it.ascii = textKind(it.text, it.valid)
	}
	if it.ascii == textASCII {
		if cp > len(it.text) {
			it.cp, it.off = len(it.text), len(it.text)
			return -1
		}
		return cp
	}
	if cp < it.cp {
		it.cp, it.off = 0, 0
	}
	text, off := it.text, it.off
	for it.cp < cp {
		if off == len(text) {
			it.off = off
			return -1
		}
		c := text[off]
		off++
		if c >= utf8.RuneSelf {
			if it.ascii == textUTF8 {
				// Valid UTF-8: skip the continuation bytes.
				for off < len(text) && text[off]&0xc0 == 0x80 {
					off++
				}
			} else {
				_, size := utf8.DecodeRune(text[off-1:])
				off += size - 1
			}
		}
		it.cp++
	}
	it.off = off
	return off
}

// The kinds of text textKind tells apart.
const (
	textASCII   = 1
	textUTF8    = 2 // valid UTF-8, not all ASCII
	textInvalid = 3 // an invalid byte counts as one code point
)

// textKind classifies text, eight bytes at a time while it is ASCII;
// valid says it is known to be valid UTF-8.
func textKind(text []byte, valid bool) int8 {
	i := 0
	for ; i+8 <= len(text); i += 8 {
		if binary.LittleEndian.Uint64(text[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			if valid || utf8.Valid(text[i:]) {
				return textUTF8
			}
			return textInvalid
		}
	}
	return textASCII
}

// leadingDigits returns the decimal value of the digits of b from i on
// and the index after them (i when there are none). The value is only
// meaningful for at most maxPosDigits digits.
func leadingDigits(b []byte, i int) (int, int) {
	n := 0
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		n = n*10 + int(b[i]-'0')
	}
	return n, i
}

// ID returns the current emote's raw id ("25", "emotesv2_...").
func (it *EmoteIter) ID() []byte { return it.id }

// Start returns the current emote's first code point.
func (it *EmoteIter) Start() int { return it.start }

// End returns the current emote's last code point (inclusive).
func (it *EmoteIter) End() int { return it.end }

// Name returns the current emote's text: the code points Start to End.
func (it *EmoteIter) Name() []byte { return it.text[it.bstart:it.bend] }

// Problems returns what was skipped or clamped so far.
func (it *EmoteIter) Problems() EmoteProblem { return it.problems }
