// Package tagindex indexes the tags of one Twitch IRC line in one pass:
// the raw value of every tag Twitch defines (Key), every tag in line order
// with its duplicates marked, and the byte classes of the tag section
// (which bytes are ';', '=', or need a writer's attention), found by one
// vector pass on amd64 (masks_amd64.s) or in Go elsewhere.
//
// It is the part of the Twitch model (package twitch/tmi) that the
// envelope encoder reads below the model's public surface: tmi.Tags is an
// Index under the model's name (type Tags tagindex.Index), and the
// encoder converts a *tmi.Tags to an *Index to ask what only a writer
// needs (Plain, ItemSpan). It builds on ircv3 and the standard library.
package tagindex

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// maxTracked is how many tags (by position) and maxUnknown how many
// unknown tags Reset tracks for duplicate detection; a line with more
// falls back to a hash index of its keys (indexSlow).
const (
	maxTracked = 64
	maxUnknown = 24
)

// tagItem locates one tag in the section by offsets: no pointers to
// write (and no write barriers) per tag.
type tagItem struct {
	ks, ke, vs, ve uint32 // key sect[ks:ke], value sect[vs:ve]
	k              Key
	plain          bool // the value is Plain
}

// Index holds the raw values of the known tags of one message, and the
// places of all its tags in the tag section. A value is nil when the tag
// is absent and non-nil (possibly empty) when present; the last duplicate
// wins. Every value is a view into the section, valid while the line is.
// Its zero value has no tags. It is not safe for concurrent use.
type Index struct {
	sect    []byte             // the raw tag section
	present uint64             // bit k: vals[k] is set; the rest of vals is stale
	vals    [numKeys][2]uint32 // value of tag k: sect[vals[k][0]:vals[k][1]]
	pos     [numKeys]uint8     // position of the tag in the line, for skip

	n     int                 // tags seen
	items [maxTracked]tagItem // the first maxTracked tags, in line order
	skip  uint64              // bit i: tag i is followed by a duplicate of its key
	slow  bool                // too many tags or unknown tags to track
	dup   bool                // some key appears twice

	unknown  [maxUnknown][2]uint32 // keys of unknown tags seen
	unknownI [maxUnknown]uint8     // position of each one's latest occurrence
	unknownN int

	slowTab []slowEntry // indexSlow's table, kept for the next such line

	masked bool  // sect fits the masks (len(sect) <= maskBytes)
	m      masks // of sect, when masked
}

// Sect returns the raw tag section Reset was given.
func (t *Index) Sect() []byte { return t.sect }

// Get returns the raw value of the tag k, or nil when it is absent.
func (t *Index) Get(k Key) []byte {
	if k >= numKeys || t.present&(1<<k) == 0 {
		return nil
	}
	return t.sect[t.vals[k][0]:t.vals[k][1]]
}

// Has reports whether the tag k is present.
func (t *Index) Has(k Key) bool { return k < numKeys && t.present&(1<<k) != 0 }

// Len returns the number of tags in the line, duplicates included.
func (t *Index) Len() int { return t.n }

// Indexed reports whether every tag of the line is indexed (at most 64
// tags, at most 24 distinct unknown keys): then Item serves 0 <= i < Len.
// Unique works for any line.
func (t *Index) Indexed() bool { return !t.slow }

// Item returns the i-th tag of an Indexed line, 0 <= i < Len: its key and
// raw value, its Key, and whether a later tag with the same key
// supersedes it. It is Unique without the iterator, for hot loops.
func (t *Index) Item(i int) (key, val []byte, k Key, superseded bool) {
	it := &t.items[i%maxTracked]
	return t.sect[it.ks:it.ke], t.sect[it.vs:it.ve], it.k, t.skip&(1<<(i&63)) != 0
}

// ItemSpan returns where the value of the i-th tag of an Indexed line
// lies in the tag section (Sect), and its Key; plain reports
// that the tag is known, not superseded, and its value Plain: a writer
// may copy it as it is.
func (t *Index) ItemSpan(i int) (vs, ve int, k Key, plain bool) {
	it := &t.items[i%maxTracked]
	return int(it.vs), int(it.ve), it.k, it.plain && it.k != Unknown && t.skip&(1<<(i&63)) == 0
}

// ItemPlain reports Plain of the i-th tag's value (see Item), found while
// the tags were indexed.
func (t *Index) ItemPlain(i int) bool { return t.items[i%maxTracked].plain }

// Plain reports whether v, a view into the tag section (a key, a raw
// value or a part of one), holds only printable ASCII other than '"', '&',
// '<', '>' and '\\': no IRCv3 escape to undo, nothing a JSON or HTML
// writer escapes, no UTF-8 to check. An empty view is plain; a view not
// inside the section, or into a section longer than 4 KiB, is not.
func (t *Index) Plain(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	off := cap(t.sect) - cap(v)
	end := off + len(v)
	if !t.masked || off < 0 || end > len(t.sect) || &t.sect[off] != &v[0] {
		return false
	}
	return !anyIn(&t.m.attn, off, end)
}

// Duplicates reports whether some key appears more than once.
func (t *Index) Duplicates() bool { return t.dup }

// maxSection is the longest tag section Reset indexes by uint32 offsets;
// ircv3 lines are far shorter.
const maxSection uint64 = 1<<32 - 1

// Reset makes t the index of a raw tag section (ircv3.Message.Tags),
// splitting it the way ircv3.TagIter does. The section must stay
// unchanged while t is used. It clears only what it reads back.
func (t *Index) Reset(sect []byte) {
	if n := uint64(len(sect)); n > maxSection {
		sect = sect[:n-(n-maxSection)] // a computed index: 32-bit builds compile it
	}
	t.sect, t.present, t.n, t.skip, t.slow, t.dup, t.unknownN = sect, 0, 0, 0, false, false, 0
	if t.masked = len(sect) <= maskBytes; t.masked {
		// One vector pass classifies every byte; the tags are then cut
		// at the bits of the ';' and '=' masks, with no search per tag.
		t.m.classify(sect)
		n := len(sect)
		// na is the first attention byte at or after the current value:
		// it moves only forward, and rarely, so telling whether a value
		// is Plain costs one comparison.
		na := next(&t.m.attn, 0, n)
		for p := 0; p < n; {
			end := next(&t.m.semi, p, n)
			if end == p {
				p++
				continue // an empty item: ircv3.TagIter skips them too
			}
			ke, vs := end, end
			if eq := next(&t.m.eq, p, end); eq < end {
				ke, vs = eq, eq+1
			}
			if na < vs {
				na = next(&t.m.attn, vs, n)
			}
			t.add(p, ke, vs, end, na >= end)
			p = end + 1
		}
	} else {
		t.resetLong(sect)
	}
	if t.slow {
		t.indexSlow()
	}
}

// add indexes the tag sect[p:end], its key sect[p:ke] and its value
// sect[vs:end], Plain or not.
func (t *Index) add(p, ke, vs, end int, plain bool) {
	sect := t.sect
	full := sect[:cap(sect)]
	key := sect[p:ke]
	var k Key
	switch kn := ke - p; {
	case kn == 0 || kn > 255:
		k = numKeys
	case kn >= 8:
		k = lookupWords(key, binary.LittleEndian.Uint64(key), binary.LittleEndian.Uint64(key[kn-8:]))
	case p+8 <= len(full):
		w := binary.LittleEndian.Uint64(full[p:]) & (1<<(8*kn) - 1)
		k = lookupWords(key, w, w)
	default:
		k = Lookup(key)
	}
	i := t.n
	t.n++
	if i < maxTracked {
		// Field by field: a composite literal is built on the stack
		// and copied with wide loads that cannot forward from its
		// narrow stores, a stall per tag.
		it := &t.items[i]
		it.ks, it.ke, it.vs, it.ve, it.k, it.plain = uint32(p), uint32(ke), uint32(vs), uint32(end), k, plain
	} else {
		t.slow = true
	}
	if k < numKeys {
		if t.present&(1<<k) != 0 {
			t.dup = true
			t.skip |= 1 << (t.pos[k] & 63)
		}
		t.present |= 1 << k
		t.vals[k][0], t.vals[k][1] = uint32(vs), uint32(end)
		t.pos[k] = uint8(min(i, 255))
	} else if !t.slow {
		t.addUnknown(p, ke, i)
	}
}

// resetLong splits a section too long for the masks tag by tag.
func (t *Index) resetLong(sect []byte) {
	// Word loads may look past the section into the rest of the line (up
	// to its capacity): what they find there is ignored.
	full := sect[:cap(sect)]
	n := len(sect)
	for p := 0; p < n; {
		end := n
		if semi := bytes.IndexByte(sect[p:], ';'); semi >= 0 {
			end = p + semi
		}
		if end == p {
			p++
			continue // an empty item: ircv3.TagIter skips them too
		}
		ke, vs := end, end
		if eq := indexEquals(full, p, end); eq >= 0 {
			ke, vs = p+eq, p+eq+1
		}
		t.add(p, ke, vs, end, false)
		p = end + 1
	}
}

// indexEquals returns the index in buf[p:end] of its first '=', or -1.
// Keys are short: a word-at-a-time search, reading past end (up to
// len(buf)) where it can, finds the '=' of most in one step, where
// bytes.IndexByte costs a call and a byte loop a mispredicted exit per key
// (BenchmarkViewReset in twitch/tmi).
func indexEquals(buf []byte, p, end int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := p
	for ; i < end && i+8 <= len(buf); i += 8 {
		x := binary.LittleEndian.Uint64(buf[i:]) ^ ones*'='
		if z := (x - ones) & ^x & highs; z != 0 {
			if j := i + bits.TrailingZeros64(z)/8; j < end {
				return j - p
			}
			return -1
		}
	}
	for ; i < end; i++ {
		if buf[i] == '=' {
			return i - p
		}
	}
	return -1
}

// slowEntry is a key of a line with more tags than Reset tracks: the
// latest tag with that key, by offsets (ks+1, so that 0 is free).
type slowEntry struct{ ks1, ke uint32 }

// slowSeed keys the hash of the slow index; random per process, so that
// no line can be built to make it collide.
var slowSeed = maphash.MakeSeed()

// indexSlow indexes every key of a line with more tags than Reset tracks
// (or too many unknown keys) in a hash table sized to the line, so that
// Duplicates and UniqueIter stay linear in the number of tags: a 16
// KiB line of 4,000 distinct keys compared pairwise cost 0.3 s. The
// table is kept for the next such line.
func (t *Index) indexSlow() {
	size := 64
	for size < 2*t.n {
		size <<= 1
	}
	if cap(t.slowTab) < size {
		t.slowTab = make([]slowEntry, size)
	} else {
		t.slowTab = t.slowTab[:size]
		clear(t.slowTab)
	}
	var m ircv3.Message
	m.Tags = t.sect
	for it := m.TagIter(); it.Next(); {
		key := it.Key()
		ks := cap(t.sect) - cap(key)
		e := t.findSlow(key)
		if e.ks1 != 0 {
			t.dup = true
		}
		e.ks1, e.ke = uint32(ks+1), uint32(ks+len(key))
	}
}

// findSlow returns the entry of key in the slow index: the one holding
// it, or the free one where it belongs.
func (t *Index) findSlow(key []byte) *slowEntry {
	mask := uint64(len(t.slowTab) - 1)
	for h := maphash.Bytes(slowSeed, key) & mask; ; h = (h + 1) & mask {
		e := &t.slowTab[h]
		if e.ks1 == 0 || bytes.Equal(t.sect[e.ks1-1:e.ke], key) {
			return e
		}
	}
}

// latest reports whether key, a key view into the section of an unindexed
// line, belongs to the last tag with that key.
func (t *Index) latest(key []byte) bool {
	return int(t.findSlow(key).ks1)-1 == cap(t.sect)-cap(key)
}

// addUnknown records the unknown key sect[ks:ke] at position i (<
// maxTracked).
func (t *Index) addUnknown(ks, ke, i int) {
	key := t.sect[ks:ke]
	for j := range t.unknownN {
		if bytes.Equal(t.sect[t.unknown[j][0]:t.unknown[j][1]], key) {
			t.dup = true
			t.skip |= 1 << t.unknownI[j]
			t.unknownI[j] = uint8(i)
			return
		}
	}
	if t.unknownN == maxUnknown {
		t.slow = true
		return
	}
	t.unknown[t.unknownN], t.unknownI[t.unknownN] = [2]uint32{uint32(ks), uint32(ke)}, uint8(i)
	t.unknownN++
}

// UniqueIter iterates over the tags of a message in line order, each key
// once (the last duplicate wins). Key and Value are raw views into the
// line. Its zero value is an empty iteration.
type UniqueIter struct {
	t      *Index
	prefix string

	i        int // next item
	slowIter ircv3.TagIter
	inSlow   bool
	key, val []byte
	k        Key
}

// Unique returns an iterator over the tags of t whose key starts with
// prefix ("" for all), each key once.
func (t *Index) Unique(prefix string) UniqueIter {
	u := UniqueIter{t: t, prefix: prefix}
	if t.slow {
		var m ircv3.Message
		m.Tags = t.sect
		u.slowIter, u.inSlow = m.TagIter(), true
	}
	return u
}

// Next advances to the next tag and reports whether there is one.
func (u *UniqueIter) Next() bool {
	if u.t == nil {
		return false
	}
	if !u.inSlow {
		for u.i < u.t.n {
			i := u.i
			u.i++
			if u.t.skip&(1<<i) != 0 {
				continue
			}
			it := &u.t.items[i]
			key := u.t.sect[it.ks:it.ke]
			if u.prefix != "" && !bytes.HasPrefix(key, []byte(u.prefix)) {
				continue
			}
			u.key, u.val, u.k = key, u.t.sect[it.vs:it.ve], it.k
			return true
		}
		return false
	}
	for u.slowIter.Next() {
		key := u.slowIter.Key()
		if u.prefix != "" && !bytes.HasPrefix(key, []byte(u.prefix)) {
			continue
		}
		if u.t.latest(key) {
			u.key, u.val, u.k = key, u.slowIter.Value(), Lookup(key)
			return true
		}
	}
	return false
}

// Key returns the current tag's key.
func (u *UniqueIter) Key() []byte { return u.key }

// Value returns the current tag's raw, escaped value.
func (u *UniqueIter) Value() []byte { return u.val }

// TagKey returns the current tag's Key, Unknown for a tag the model does
// not know.
func (u *UniqueIter) TagKey() Key { return u.k }
