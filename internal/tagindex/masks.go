package tagindex

import "math/bits"

// maskBytes is the longest tag section Index.Reset classifies in one
// vector pass (Twitch's sections are well under 2 KiB); a longer one is
// split tag by tag and has no plain mask.
const maskBytes = 4096

// MaxPlainSection is the longest tag section whose byte classes an Index
// keeps: Plain is false for every non-empty view into a longer one.
const MaxPlainSection = maskBytes

// masks classifies every byte of a tag section, one bit per byte
// (bit i&63 of word i>>6 is byte i):
//   - semi: ';', the end of a tag;
//   - eq: '=', the end of a key when it is the first in its tag;
//   - attn: a byte a writer may have to escape: a control byte, '"', '&',
//     '<', '>', '\\' (IRCv3 tag escapes start with it) or any byte >= 0x80.
type masks struct {
	semi, eq, attn [maskBytes / 64]uint64
}

// classify fills the words of m that cover sect (len(sect) <= maskBytes).
// Whole 64-byte blocks go to classifyBlocks (vector code on amd64). A
// last partial block is classified where it lies when the bytes after the
// section (the rest of the line, up to its capacity) complete it, and its
// bits past the section cleared; otherwise it is copied into a block
// padded with a byte of no class.
func (m *masks) classify(sect []byte) {
	n := len(sect) &^ 63
	full := sect[:cap(sect)]
	if n < len(sect) && n+64 <= len(full) {
		classifyBlocks(full[:n+64], m.semi[:], m.eq[:], m.attn[:])
		w, keep := n>>6, uint64(1)<<(len(sect)&63)-1
		m.semi[w] &= keep
		m.eq[w] &= keep
		m.attn[w] &= keep
		return
	}
	if n > 0 {
		classifyBlocks(sect[:n], m.semi[:], m.eq[:], m.attn[:])
	}
	if n < len(sect) {
		tail := padBlock
		copy(tail[:], sect[n:])
		w := n >> 6
		classifyBlocks(tail[:], m.semi[w:], m.eq[w:], m.attn[w:])
	}
}

// padBlock is a block of a byte of no class, for a section's last partial
// block.
var padBlock = func() (b [64]byte) {
	for i := range b {
		b[i] = 'a'
	}
	return b
}()

// next returns the index of the first set bit of mask at or after from,
// or limit when there is none below limit (limit <= maskBytes; bits past
// the section are never set).
func next(mask *[maskBytes / 64]uint64, from, limit int) int {
	if from >= limit {
		return limit
	}
	// w < maskBytes/64 as limit <= maskBytes: the index is masked
	// instead of checked.
	w := from >> 6
	x := mask[w&(maskBytes/64-1)] & (^uint64(0) << (from & 63))
	for x == 0 {
		w++
		if w<<6 >= limit {
			return limit
		}
		x = mask[w&(maskBytes/64-1)]
	}
	return min(w<<6+bits.TrailingZeros64(x), limit)
}

// anyIn reports whether mask has a set bit in [from, to).
func anyIn(mask *[maskBytes / 64]uint64, from, to int) bool {
	return next(mask, from, to) < to
}

// classifyGeneric is classifyBlocks in Go: the reference the tests hold
// the vector code to, and the code for other architectures and the purego
// build tag.
func classifyGeneric(b []byte, semi, eq, attn []uint64) {
	for w := range len(b) >> 6 {
		var s, e, a uint64
		for i, c := range b[w<<6 : w<<6+64] {
			bit := uint64(1) << i
			switch {
			case c == ';':
				s |= bit
			case c == '=':
				e |= bit
			case c < 0x20 || c >= 0x80 || c == '"' || c == '&' || c == '<' || c == '>' || c == '\\':
				a |= bit
			}
		}
		semi[w], eq[w], attn[w] = s, e, a
	}
}
