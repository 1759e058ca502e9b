package envelope

import (
	"crypto/sha1"
	"encoding/binary"
	"slices"
)

// UUID is a UUID's 16 bytes.
type UUID [16]byte

// Namespace is the namespace of envelope ids: the name-based UUID (version
// 5, RFC 9562 §5.5) of the name "twitch.tv/message-id" in the RFC 9562 URL
// namespace (6ba7b811-9dad-11d1-80b4-00c04fd430c8). Its text form is
// ceeb5c06-c3c5-593d-844f-8e7c82612b3e; TestNamespace recomputes it.
var Namespace = UUID{0xce, 0xeb, 0x5c, 0x06, 0xc3, 0xc5, 0x59, 0x3d, 0x84, 0x4f, 0x8e, 0x7c, 0x82, 0x61, 0x2b, 0x3e}

// maxName bounds the name hashed in place; a longer Twitch id (they are
// 36-byte UUIDs) is hashed in two steps, still without allocating.
const maxName = 128

// NewSHA1 returns the name-based UUID, version 5 (SHA-1, RFC 9562 §5.5), of
// name in namespace ns, as github.com/google/uuid's NewSHA1 does. It does
// not allocate for names up to 128 bytes.
func NewSHA1(ns UUID, name []byte) UUID {
	var sum [sha1.Size]byte
	if len(name) <= maxOneBlock && !stdSHA1 {
		s := sha1OneBlock(&ns, name)
		copy(sum[:], s[:])
	} else if len(name) <= maxName {
		var buf [16 + maxName]byte
		copy(buf[:], ns[:])
		n := copy(buf[16:], name)
		sum = sha1.Sum(buf[:16+n])
	} else {
		h := sha1.New()
		h.Write(ns[:])
		h.Write(name)
		h.Sum(sum[:0])
	}
	var u UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

// MessageID returns the envelope id of a Twitch message id: the version 5
// UUID of the (unescaped) id tag in Namespace. The same chat message always
// gets the same envelope id, on any replica, after a reconnect overlap or
// in a replay.
func MessageID(twitchID []byte) UUID { return NewSHA1(Namespace, twitchID) }

// String returns the canonical text form (8-4-4-4-12 lower-case hex).
func (u UUID) String() string { return string(AppendUUID(nil, u)) }

// AppendUUID appends the canonical text form of u to dst.
func AppendUUID(dst []byte, u UUID) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 36)[:n+36]
	b := dst[n : n+36]
	binary.BigEndian.PutUint64(b[0:], hex8(binary.BigEndian.Uint32(u[0:])))
	b[8] = '-'
	h := hex8(binary.BigEndian.Uint32(u[4:]))
	binary.BigEndian.PutUint32(b[9:], uint32(h>>32))
	b[13] = '-'
	binary.BigEndian.PutUint32(b[14:], uint32(h))
	b[18] = '-'
	h = hex8(binary.BigEndian.Uint32(u[8:]))
	binary.BigEndian.PutUint32(b[19:], uint32(h>>32))
	b[23] = '-'
	binary.BigEndian.PutUint32(b[24:], uint32(h))
	binary.BigEndian.PutUint64(b[28:], hex8(binary.BigEndian.Uint32(u[12:])))
	return dst
}

// hex8 returns the eight lower-case hex digits of x, the first in the
// most significant byte, computed a word at a time: the nibbles are
// spread one to a byte, and each becomes '0'+n, plus 'a'-'0'-10 where
// n > 9.
func hex8(x uint32) uint64 {
	n := uint64(x)
	n = (n<<16 | n) & 0x0000ffff0000ffff
	n = (n<<8 | n) & 0x00ff00ff00ff00ff
	n = (n<<4 | n) & 0x0f0f0f0f0f0f0f0f
	over9 := (n + 0x0606060606060606) >> 4 & 0x0101010101010101
	return n + 0x3030303030303030 + over9*('a'-'0'-10)
}

// randomUUID fills a version 4 UUID from two 64-bit random numbers.
func randomUUID(hi, lo uint64) UUID {
	var u UUID
	binary.BigEndian.PutUint64(u[:8], hi)
	binary.BigEndian.PutUint64(u[8:], lo)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}
