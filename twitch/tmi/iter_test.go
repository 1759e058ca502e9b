package tmi

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// TestEmoteOffset compares the cursor with a count of runes, for texts of
// every mix of 1- to 4-byte characters, with the code points asked for in
// order (as emotes come) and out of order (the cursor restarts).
func TestEmoteOffset(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	chars := []string{"a", "K", " ", "é", "ñ", "😂", "中", "\u2028", "\U000E0000"}
	for round := range 2000 {
		var text []byte
		for range rng.IntN(40) {
			text = append(text, chars[rng.IntN(len(chars))]...)
		}
		if round%2 == 0 {
			for i := range text {
				if text[i] < utf8.RuneSelf {
					text[i] = 'x' // long ASCII runs too
				}
			}
		}
		var starts []int // byte offset of each code point, then len(text)
		for i := range string(text) {
			starts = append(starts, i)
		}
		starts = append(starts, len(text))
		it := EmoteIter{text: text}
		for _, cp := range []int{0, 1, 3, 8, 9, 17, 2, 25, len(starts) - 1, len(starts), 40} {
			want := -1
			if cp < len(starts) {
				want = starts[cp]
			}
			if got := it.offset(cp); got != want {
				t.Fatalf("%q: offset(%d) = %d, want %d", text, cp, got, want)
			}
		}
	}
}
