//go:build !amd64

package tmi

import "unsafe"

// classifyBlocks classifies len(b)/64 whole blocks of b into the mask words
// starting at semi, eq and attn.
func classifyBlocks(b []byte, semi, eq, attn *uint64) {
	n := len(b) >> 6
	classifyGeneric(b, unsafe.Slice(semi, n), unsafe.Slice(eq, n), unsafe.Slice(attn, n))
}
