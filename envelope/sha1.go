package envelope

import (
	"encoding/binary"
	"math/bits"
)

// maxOneBlock is the longest name whose version 5 UUID fits one SHA-1
// block: 16 bytes of namespace, the name, the 0x80 pad byte and the 8-byte
// length make at most 64. Twitch message ids (36-byte UUIDs) do.
const maxOneBlock = 64 - 16 - 1 - 8

// sha1OneBlock returns the first 16 bytes of SHA-1(ns || name) for a name
// of at most maxOneBlock bytes: the message padded into one block and
// compressed once, with the rounds unrolled in groups of five so that the
// working variables change roles by renaming instead of moving. On CPUs
// without SHA-NI crypto/sha1 takes its portable Go block function for a
// message this short, after copying it through its digest's buffer twice
// (BenchmarkMessageID); with SHA-NI crypto/sha1 is about twice as fast as
// this, and NewSHA1 uses it there (stdSHA1). TestSHA1OneBlock and FuzzSHA1
// check it against crypto/sha1.
func sha1OneBlock(ns *UUID, name []byte) (sum [16]byte) {
	var blk [64]byte
	copy(blk[:16], ns[:])
	n := copy(blk[16:16+maxOneBlock], name)
	blk[16+n] = 0x80
	binary.BigEndian.PutUint64(blk[56:], uint64(16+n)*8)

	// The message schedule, all 80 words up front: the rounds then read
	// it at fixed offsets from the group's start.
	var w [80]uint32
	for i := range 16 {
		w[i] = binary.BigEndian.Uint32(blk[4*i:])
	}
	for i := 16; i < 80; i++ {
		w[i] = bits.RotateLeft32(w[i-3]^w[i-8]^w[i-14]^w[i-16], 1)
	}
	const (
		h0 = 0x67452301
		h1 = 0xEFCDAB89
		h2 = 0x98BADCFE
		h3 = 0x10325476
		h4 = 0xC3D2E1F0
	)
	a, b, c, d, e := uint32(h0), uint32(h1), uint32(h2), uint32(h3), uint32(h4)
	// Rounds 0-19: Ch, x&y | ^x&z written as z ^ (x & (y ^ z)).
	for i := 0; i < 20; i += 5 {
		x := w[i : i+5 : i+5]
		const k = 0x5A827999
		e += bits.RotateLeft32(a, 5) + (d ^ (b & (c ^ d))) + x[0] + k
		b = bits.RotateLeft32(b, 30)
		d += bits.RotateLeft32(e, 5) + (c ^ (a & (b ^ c))) + x[1] + k
		a = bits.RotateLeft32(a, 30)
		c += bits.RotateLeft32(d, 5) + (b ^ (e & (a ^ b))) + x[2] + k
		e = bits.RotateLeft32(e, 30)
		b += bits.RotateLeft32(c, 5) + (a ^ (d & (e ^ a))) + x[3] + k
		d = bits.RotateLeft32(d, 30)
		a += bits.RotateLeft32(b, 5) + (e ^ (c & (d ^ e))) + x[4] + k
		c = bits.RotateLeft32(c, 30)
	}
	// Rounds 20-39: parity.
	a, b, c, d, e = parityRounds(a, b, c, d, e, w[20:40], 0x6ED9EBA1)
	// Rounds 40-59: majority.
	for i := 40; i < 60; i += 5 {
		x := w[i : i+5 : i+5]
		const k = 0x8F1BBCDC
		e += bits.RotateLeft32(a, 5) + ((b|c)&d | b&c) + x[0] + k
		b = bits.RotateLeft32(b, 30)
		d += bits.RotateLeft32(e, 5) + ((a|b)&c | a&b) + x[1] + k
		a = bits.RotateLeft32(a, 30)
		c += bits.RotateLeft32(d, 5) + ((e|a)&b | e&a) + x[2] + k
		e = bits.RotateLeft32(e, 30)
		b += bits.RotateLeft32(c, 5) + ((d|e)&a | d&e) + x[3] + k
		d = bits.RotateLeft32(d, 30)
		a += bits.RotateLeft32(b, 5) + ((c|d)&e | c&d) + x[4] + k
		c = bits.RotateLeft32(c, 30)
	}
	// Rounds 60-79: parity again, with its own constant.
	a, b, c, d, e = parityRounds(a, b, c, d, e, w[60:80], 0xCA62C1D6)
	binary.BigEndian.PutUint32(sum[0:], a+h0)
	binary.BigEndian.PutUint32(sum[4:], b+h1)
	binary.BigEndian.PutUint32(sum[8:], c+h2)
	binary.BigEndian.PutUint32(sum[12:], d+h3)
	return sum
}

// parityRounds runs the 20 rounds of SHA-1 whose function is b ^ c ^ d
// (rounds 20-39 and 60-79, which differ only in k) over the schedule
// words w.
func parityRounds(a, b, c, d, e uint32, w []uint32, k uint32) (uint32, uint32, uint32, uint32, uint32) {
	for i := 0; i+5 <= len(w); i += 5 {
		x := w[i : i+5 : i+5]
		e += bits.RotateLeft32(a, 5) + (b ^ c ^ d) + x[0] + k
		b = bits.RotateLeft32(b, 30)
		d += bits.RotateLeft32(e, 5) + (a ^ b ^ c) + x[1] + k
		a = bits.RotateLeft32(a, 30)
		c += bits.RotateLeft32(d, 5) + (e ^ a ^ b) + x[2] + k
		e = bits.RotateLeft32(e, 30)
		b += bits.RotateLeft32(c, 5) + (d ^ e ^ a) + x[3] + k
		d = bits.RotateLeft32(d, 30)
		a += bits.RotateLeft32(b, 5) + (c ^ d ^ e) + x[4] + k
		c = bits.RotateLeft32(c, 30)
	}
	return a, b, c, d, e
}
