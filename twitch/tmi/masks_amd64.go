package tmi

// classifyBlocks classifies len(b)/64 whole blocks of b (len(b) a multiple
// of 64) into the mask words starting at semi, eq and attn, one word per
// block each: with AVX2 where the CPU and the OS support it, else with
// SSE2, the amd64 baseline (masks_amd64.s).
func classifyBlocks(b []byte, semi, eq, attn *uint64) {
	if useAVX2 {
		classifyBlocksAVX2(b, semi, eq, attn)
		return
	}
	classifyBlocksSSE2(b, semi, eq, attn)
}

//go:noescape
func classifyBlocksSSE2(b []byte, semi, eq, attn *uint64)

//go:noescape
func classifyBlocksAVX2(b []byte, semi, eq, attn *uint64)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv0() (eax uint32)

// useAVX2 is set when the CPU has AVX2 and the OS saves the YMM registers
// (CPUID leaf 1: OSXSAVE and AVX; XCR0: SSE and AVX state; leaf 7: AVX2).
// Tests switch it off to check the SSE2 code too.
var useAVX2 = hasAVX2()

func hasAVX2() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	if ecx1&osxsave == 0 || ecx1&avx == 0 || xgetbv0()&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}
