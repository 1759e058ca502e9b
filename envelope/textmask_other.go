//go:build !amd64

package envelope

import "unsafe"

// textAttention fills one word of mask per 64-byte block of b.
func textAttention(b []byte, mask *uint64) {
	textAttentionGeneric(b, unsafe.Slice(mask, len(b)>>6))
}
