//go:build amd64 && !purego

package tagindex

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"
)

type classifyImpl struct {
	name string
	use  func() (restore func())
}

// classifyImpls are the vector codes this CPU runs: SSE2 always, AVX2
// when it has it.
func classifyImpls() []classifyImpl {
	set := func(v bool) func() func() {
		return func() func() {
			old := useAVX2
			useAVX2 = v
			return func() { useAVX2 = old }
		}
	}
	impls := []classifyImpl{{"sse2", set(false)}}
	if cpu.X86.HasAVX2 {
		impls = append(impls, classifyImpl{"avx2", set(true)})
	}
	return impls
}

// TestAVX2Detected: the machines CI and benchmarks run on have AVX2; a
// detection that failed there would silently fall back to SSE2. On Linux
// the kernel's own list of the CPU's usable features (/proc/cpuinfo,
// which leaves out AVX2 when the OS does not save the YMM registers) is
// the independent witness.
func TestAVX2Detected(t *testing.T) {
	if runtime.GOOS == "linux" {
		info, err := os.ReadFile("/proc/cpuinfo")
		if err != nil {
			t.Fatal(err)
		}
		kernel := false
		for line := range strings.SplitSeq(string(info), "\n") {
			if name, flags, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
				kernel = kernel || slices.Contains(strings.Fields(flags), "avx2")
			}
		}
		// GODEBUG=cpu.avx2=off switches AVX2 off on purpose.
		if kernel != useAVX2 && !strings.Contains(os.Getenv("GODEBUG"), "cpu.") {
			t.Errorf("/proc/cpuinfo lists avx2: %v; useAVX2 = %v", kernel, useAVX2)
		}
	}
	if useAVX2 != cpu.X86.HasAVX2 {
		t.Errorf("useAVX2 = %v, cpu.X86.HasAVX2 = %v", useAVX2, cpu.X86.HasAVX2)
	}
}
