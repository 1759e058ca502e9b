package tmi

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"

	"github.com/ingress-egress/ingress-egress/ircv3"
)

// TagKey names a tag Twitch defines. Tags.Get(k) returns its raw value.
type TagKey uint8

// The tags the model knows, from Twitch's IRC tag reference. Any other tag
// (msg-param-*, new ones) is still seen by UniqueTags.
const (
	TagAnimationID TagKey = iota
	TagBadgeInfo
	TagBadges
	TagBanDuration
	TagBits
	TagClientNonce
	TagColor
	TagCustomRewardID
	TagDisplayName
	TagEmoteOnly
	TagEmoteSets
	TagEmotes
	TagFirstMsg
	TagFlags
	TagFollowersOnly
	TagID
	TagLogin
	TagMessageID
	TagMod
	TagMsgID
	TagPinnedChatPaidAmount
	TagPinnedChatPaidCurrency
	TagPinnedChatPaidExponent
	TagPinnedChatPaidIsSystemMessage
	TagPinnedChatPaidLevel
	TagR9K
	TagReplyParentDisplayName
	TagReplyParentMsgBody
	TagReplyParentMsgID
	TagReplyParentUserID
	TagReplyParentUserLogin
	TagReplyThreadParentDisplayName
	TagReplyThreadParentMsgID
	TagReplyThreadParentUserID
	TagReplyThreadParentUserLogin
	TagReturningChatter
	TagRoomID
	TagSlow
	TagSourceBadgeInfo
	TagSourceBadges
	TagSourceID
	TagSourceMsgID
	TagSourceOnly
	TagSourceRoomID
	TagSubsOnly
	TagSubscriber
	TagSystemMsg
	TagTargetMsgID
	TagTargetUserID
	TagThreadID
	TagTmiSentTS
	TagTurbo
	TagUserID
	TagUserType
	TagVIP

	numTagKeys
)

var tagNames = [numTagKeys]string{
	TagAnimationID:                   "animation-id",
	TagBadgeInfo:                     "badge-info",
	TagBadges:                        "badges",
	TagBanDuration:                   "ban-duration",
	TagBits:                          "bits",
	TagClientNonce:                   "client-nonce",
	TagColor:                         "color",
	TagCustomRewardID:                "custom-reward-id",
	TagDisplayName:                   "display-name",
	TagEmoteOnly:                     "emote-only",
	TagEmoteSets:                     "emote-sets",
	TagEmotes:                        "emotes",
	TagFirstMsg:                      "first-msg",
	TagFlags:                         "flags",
	TagFollowersOnly:                 "followers-only",
	TagID:                            "id",
	TagLogin:                         "login",
	TagMessageID:                     "message-id",
	TagMod:                           "mod",
	TagMsgID:                         "msg-id",
	TagPinnedChatPaidAmount:          "pinned-chat-paid-amount",
	TagPinnedChatPaidCurrency:        "pinned-chat-paid-currency",
	TagPinnedChatPaidExponent:        "pinned-chat-paid-exponent",
	TagPinnedChatPaidIsSystemMessage: "pinned-chat-paid-is-system-message",
	TagPinnedChatPaidLevel:           "pinned-chat-paid-level",
	TagR9K:                           "r9k",
	TagReplyParentDisplayName:        "reply-parent-display-name",
	TagReplyParentMsgBody:            "reply-parent-msg-body",
	TagReplyParentMsgID:              "reply-parent-msg-id",
	TagReplyParentUserID:             "reply-parent-user-id",
	TagReplyParentUserLogin:          "reply-parent-user-login",
	TagReplyThreadParentDisplayName:  "reply-thread-parent-display-name",
	TagReplyThreadParentMsgID:        "reply-thread-parent-msg-id",
	TagReplyThreadParentUserID:       "reply-thread-parent-user-id",
	TagReplyThreadParentUserLogin:    "reply-thread-parent-user-login",
	TagReturningChatter:              "returning-chatter",
	TagRoomID:                        "room-id",
	TagSlow:                          "slow",
	TagSourceBadgeInfo:               "source-badge-info",
	TagSourceBadges:                  "source-badges",
	TagSourceID:                      "source-id",
	TagSourceMsgID:                   "source-msg-id",
	TagSourceOnly:                    "source-only",
	TagSourceRoomID:                  "source-room-id",
	TagSubsOnly:                      "subs-only",
	TagSubscriber:                    "subscriber",
	TagSystemMsg:                     "system-msg",
	TagTargetMsgID:                   "target-msg-id",
	TagTargetUserID:                  "target-user-id",
	TagThreadID:                      "thread-id",
	TagTmiSentTS:                     "tmi-sent-ts",
	TagTurbo:                         "turbo",
	TagUserID:                        "user-id",
	TagUserType:                      "user-type",
	TagVIP:                           "vip",
}

// String returns the tag's name as Twitch writes it.
func (k TagKey) String() string {
	if k < numTagKeys {
		return tagNames[k]
	}
	return ""
}

// The key lookup is an open-addressed table indexed by a multiplicative
// hash of the key's length and its first and last 8 bytes, the words the
// scanner has at hand, verified by comparing those words (and, for keys
// longer than 16 bytes, the bytes between them): a string switch over 55
// keys cost a binary search per tag, a byte hash and a string comparison
// a call each (BenchmarkViewReset).
const keyTableBits = 8

type keyEntry struct {
	first, last uint64 // the name's first and last 8 bytes (zero-padded when shorter)
	n           uint8  // its length; 0 for an empty slot
	k           TagKey
}

var keyTable [1 << keyTableBits]keyEntry

func keyHash(first, last uint64, n int) uint {
	h := (first ^ bits.RotateLeft64(last, 29) ^ uint64(n)<<56) * 0x9E3779B97F4A7C15
	return uint(h >> (64 - keyTableBits))
}

// keyWords returns the first and last 8 bytes of key (zero-padded when it
// is shorter than 8, then both the same word).
func keyWords(key []byte) (first, last uint64) {
	if len(key) >= 8 {
		return binary.LittleEndian.Uint64(key), binary.LittleEndian.Uint64(key[len(key)-8:])
	}
	var b [8]byte
	copy(b[:], key)
	first = binary.LittleEndian.Uint64(b[:])
	return first, first
}

func init() {
	for k, name := range tagNames {
		first, last := keyWords([]byte(name))
		h := keyHash(first, last, len(name))
		for keyTable[h].n != 0 {
			h = (h + 1) % (1 << keyTableBits)
		}
		keyTable[h] = keyEntry{first, last, uint8(len(name)), TagKey(k)}
	}
}

// lookupKey returns the TagKey named key, or numTagKeys.
func lookupKey(key []byte) TagKey {
	if len(key) == 0 || len(key) > 255 {
		return numTagKeys
	}
	first, last := keyWords(key)
	return lookupWords(key, first, last)
}

// lookupWords is lookupKey with the key's words (keyWords) at hand. The
// first probe of a key of up to 16 bytes (the two words are the whole key)
// is small enough to be inlined; longer keys, collisions and unknown keys
// go on in lookupProbe.
func lookupWords(key []byte, first, last uint64) TagKey {
	n := len(key)
	h := keyHash(first, last, n)
	if e := &keyTable[h]; e.first == first && e.last == last && int(e.n) == n && n <= 16 {
		return e.k
	}
	return lookupProbe(key, first, last, h)
}

func lookupProbe(key []byte, first, last uint64, h uint) TagKey {
	n := len(key)
	for ; ; h = (h + 1) % (1 << keyTableBits) {
		e := &keyTable[h]
		if e.n == 0 {
			return numTagKeys
		}
		if e.first == first && e.last == last && int(e.n) == n &&
			(n <= 16 || tagNames[e.k][8:n-8] == string(key[8:n-8])) {
			return e.k
		}
	}
}

// maxTracked is how many tags (by position) and maxUnknown how many
// unknown tags Reset tracks for duplicate detection; a line with more
// falls back to a hash index of its keys (indexSlow).
const (
	maxTracked = 64
	maxUnknown = 24
)

// TagUnknown is the TagKey of a tag the model does not know.
const TagUnknown = numTagKeys

// tagItem locates one tag in the section by offsets: no pointers to
// write (and no write barriers) per tag.
type tagItem struct {
	ks, ke, vs, ve uint32 // key sect[ks:ke], value sect[vs:ve]
	k              TagKey
	plain          bool // the value is Plain
}

// Tags holds the raw values of the known tags of one message. A value is
// nil when the tag is absent and non-nil (possibly empty) when present; the
// last duplicate wins. Its zero value has no tags.
type Tags struct {
	sect    []byte                // the raw tag section
	present uint64                // bit k: vals[k] is set; the rest of vals is stale
	vals    [numTagKeys][2]uint32 // value of tag k: sect[vals[k][0]:vals[k][1]]
	pos     [numTagKeys]uint8     // position of the tag in the line, for skip

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

// Get returns the raw value of the tag k, or nil when it is absent.
func (t *Tags) Get(k TagKey) []byte {
	if k >= numTagKeys || t.present&(1<<k) == 0 {
		return nil
	}
	return t.sect[t.vals[k][0]:t.vals[k][1]]
}

// Has reports whether the tag k is present.
func (t *Tags) Has(k TagKey) bool { return k < numTagKeys && t.present&(1<<k) != 0 }

// Len returns the number of tags in the line, duplicates included.
func (t *Tags) Len() int { return t.n }

// Indexed reports whether every tag of the line is indexed (at most 64
// tags, at most 24 distinct unknown keys): then Item serves 0 <= i < Len.
// UniqueTags works for any line.
func (t *Tags) Indexed() bool { return !t.slow }

// Item returns the i-th tag of an Indexed line, 0 <= i < Len: its key and
// raw value, its TagKey, and whether a later tag with the same key
// supersedes it. It is UniqueTags without the iterator, for hot loops.
func (t *Tags) Item(i int) (key, val []byte, k TagKey, superseded bool) {
	it := &t.items[i%maxTracked]
	return t.sect[it.ks:it.ke], t.sect[it.vs:it.ve], it.k, t.skip&(1<<(i&63)) != 0
}

// ItemSpan returns where the value of the i-th tag of an Indexed line
// lies in the tag section (View.RawTags), and its TagKey; plain reports
// that the tag is known, not superseded, and its value Plain: a writer
// may copy it as it is.
func (t *Tags) ItemSpan(i int) (vs, ve int, k TagKey, plain bool) {
	it := &t.items[i%maxTracked]
	return int(it.vs), int(it.ve), it.k, it.plain && it.k != TagUnknown && t.skip&(1<<(i&63)) == 0
}

// ItemPlain reports Plain of the i-th tag's value (see Item), found while
// the tags were indexed.
func (t *Tags) ItemPlain(i int) bool { return t.items[i%maxTracked].plain }

// Plain reports whether v, a view into the tag section (a key, a raw
// value or a part of one), holds only printable ASCII other than '"', '&',
// '<', '>' and '\\': no IRCv3 escape to undo, nothing a JSON or HTML
// writer escapes, no UTF-8 to check. An empty view is plain; a view not
// inside the section, or into a section longer than 4 KiB, is not.
func (t *Tags) Plain(v []byte) bool {
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
func (t *Tags) Duplicates() bool { return t.dup }

// maxSection is the longest tag section reset indexes by uint32 offsets;
// ircv3 lines are far shorter.
const maxSection uint64 = 1<<32 - 1

// reset fills t from a raw tag section, splitting it the way
// ircv3.TagIter does. It clears only what it reads back.
func (t *Tags) reset(sect []byte) {
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
func (t *Tags) add(p, ke, vs, end int, plain bool) {
	sect := t.sect
	full := sect[:cap(sect)]
	key := sect[p:ke]
	var k TagKey
	switch kn := ke - p; {
	case kn == 0 || kn > 255:
		k = numTagKeys
	case kn >= 8:
		k = lookupWords(key, binary.LittleEndian.Uint64(key), binary.LittleEndian.Uint64(key[kn-8:]))
	case p+8 <= len(full):
		w := binary.LittleEndian.Uint64(full[p:]) & (1<<(8*kn) - 1)
		k = lookupWords(key, w, w)
	default:
		k = lookupKey(key)
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
	if k < numTagKeys {
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
func (t *Tags) resetLong(sect []byte) {
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
// (BenchmarkViewReset).
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

// slowEntry is a key of a line with more tags than reset tracks: the
// latest tag with that key, by offsets (ks+1, so that 0 is free).
type slowEntry struct{ ks1, ke uint32 }

// slowSeed keys the hash of the slow index; random per process, so that
// no line can be built to make it collide.
var slowSeed = maphash.MakeSeed()

// indexSlow indexes every key of a line with more tags than reset tracks
// (or too many unknown keys) in a hash table sized to the line, so that
// Duplicates and UniqueTagIter stay linear in the number of tags: a 16
// KiB line of 4,000 distinct keys compared pairwise cost 0.3 s. The
// table is kept for the next such line.
func (t *Tags) indexSlow() {
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
func (t *Tags) findSlow(key []byte) *slowEntry {
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
func (t *Tags) latest(key []byte) bool {
	return int(t.findSlow(key).ks1)-1 == cap(t.sect)-cap(key)
}

// addUnknown records the unknown key sect[ks:ke] at position i (<
// maxTracked).
func (t *Tags) addUnknown(ks, ke, i int) {
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

// UniqueTagIter iterates over the tags of a message in line order, each
// key once (the last duplicate wins). Key and Value are raw views into the
// line. Its zero value is an empty iteration.
type UniqueTagIter struct {
	t      *Tags
	raw    []byte // the tag section, for the slow path
	prefix string

	i        int // next item
	slowIter ircv3.TagIter
	inSlow   bool
	key, val []byte
	k        TagKey
}

func newUniqueTagIter(t *Tags, raw []byte, prefix string) UniqueTagIter {
	u := UniqueTagIter{t: t, raw: raw, prefix: prefix}
	if t.slow {
		var m ircv3.Message
		m.Tags = raw
		u.slowIter, u.inSlow = m.TagIter(), true
	}
	return u
}

// Next advances to the next tag and reports whether there is one.
func (u *UniqueTagIter) Next() bool {
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
			u.key, u.val, u.k = key, u.slowIter.Value(), lookupKey(key)
			return true
		}
	}
	return false
}

// Key returns the current tag's key.
func (u *UniqueTagIter) Key() []byte { return u.key }

// Value returns the current tag's raw, escaped value.
func (u *UniqueTagIter) Value() []byte { return u.val }

// TagKey returns the current tag's TagKey, TagUnknown for a tag the model
// does not know.
func (u *UniqueTagIter) TagKey() TagKey { return u.k }
