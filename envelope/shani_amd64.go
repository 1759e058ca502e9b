//go:build amd64 && !purego

package envelope

// cpuid executes CPUID with the given leaf and subleaf.
//
//go:noescape
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// stdSHA1 reports whether crypto/sha1 is the faster way to hash a message
// id here: on a CPU with the SHA extensions (SHA-NI) it hashes the one
// block in hardware, about twice as fast as sha1OneBlock
// (BenchmarkMessageID); without them sha1OneBlock wins. The check is the
// one crypto/sha1 makes for its SHA-NI path: SHA (leaf 7, EBX bit 29),
// SSSE3 and SSE4.1 (leaf 1, ECX bits 9 and 19) and AVX usable (leaf 1,
// ECX bits 28 and 27, OSXSAVE, with the OS saving the YMM state: XCR0
// bits 1 and 2).
var stdSHA1 = hasSHANI()

func hasSHANI() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const ssse3, sse41, osxsave, avx = 1 << 9, 1 << 19, 1 << 27, 1 << 28
	if ecx1&(ssse3|sse41|osxsave|avx) != ssse3|sse41|osxsave|avx {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<29) != 0
}

// xgetbv reads XCR0 (the state the OS saves on a context switch).
//
//go:noescape
func xgetbv() (eax, edx uint32)
