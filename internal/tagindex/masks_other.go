//go:build !amd64 || purego

package tagindex

// classifyBlocks classifies the whole 64-byte blocks of b into semi, eq
// and attn, one word per block each, in Go: the code for other
// architectures and for the purego build tag.
func classifyBlocks(b []byte, semi, eq, attn []uint64) {
	classifyGeneric(b, semi, eq, attn)
}
