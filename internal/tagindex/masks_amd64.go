//go:build amd64 && !purego

package tagindex

import "golang.org/x/sys/cpu"

// classifyBlocks classifies the whole 64-byte blocks of b into semi, eq
// and attn, one word per block each: with AVX2 where the CPU and the OS
// support it, else with SSE2, the amd64 baseline (masks_amd64.s). The
// words the vector code writes are resliced here, so a mask too short
// for b panics in Go instead of being written past.
func classifyBlocks(b []byte, semi, eq, attn []uint64) {
	n := len(b) >> 6
	b, semi, eq, attn = b[:n<<6], semi[:n], eq[:n], attn[:n]
	if useAVX2 {
		classifyBlocksAVX2(b, semi, eq, attn)
		return
	}
	classifyBlocksSSE2(b, semi, eq, attn)
}

// classifyBlocksSSE2 and classifyBlocksAVX2 classify len(b)/64 blocks
// (len(b) a multiple of 64) and write that many words to each mask: the
// caller, classifyBlocks, makes the lengths agree.
//
//go:noescape
func classifyBlocksSSE2(b []byte, semi, eq, attn []uint64)

//go:noescape
func classifyBlocksAVX2(b []byte, semi, eq, attn []uint64)

// useAVX2 is set when the CPU has AVX2 and the OS saves the YMM
// registers, as golang.org/x/sys/cpu finds them (GODEBUG=cpu.avx2=off
// switches it off). Tests switch it off to check the SSE2 code too.
var useAVX2 = cpu.X86.HasAVX2
