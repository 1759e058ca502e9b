package tmi

// classifyBlocks classifies len(b)/64 whole blocks of b (len(b) a multiple
// of 64) into the mask words starting at semi, eq and attn, one word per
// block each. It is SSE2, the amd64 baseline (masks_amd64.s).
//
//go:noescape
func classifyBlocks(b []byte, semi, eq, attn *uint64)
