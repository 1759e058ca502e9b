//go:build amd64 && !purego

package tagindex

// classifyBlocks classifies the whole 64-byte blocks of b into semi, eq
// and attn, one word per block each, with SSE2, the amd64 baseline
// (masks_amd64.s). The words the vector code writes are resliced here, so
// a mask too short for b panics in Go instead of being written past.
//
// There is no AVX2 variant: on the machines this service is measured on,
// a 32-byte-load version of the same loop made the envelope 36 % slower
// than this one (BenchmarkEnvelope, 2.48 µs against 1.58 µs per line), and
// hand-written code stays only where it measurably gains.
func classifyBlocks(b []byte, semi, eq, attn []uint64) {
	n := len(b) >> 6
	b, semi, eq, attn = b[:n<<6], semi[:n], eq[:n], attn[:n]
	classifyBlocksSSE2(b, semi, eq, attn)
}

// classifyBlocksSSE2 classifies len(b)/64 blocks (len(b) a multiple of
// 64) and writes that many words to each mask: the caller,
// classifyBlocks, makes the lengths agree.
//
//go:noescape
func classifyBlocksSSE2(b []byte, semi, eq, attn []uint64)
