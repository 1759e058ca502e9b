package tmi

import "testing"

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
	if hasAVX2() {
		impls = append(impls, classifyImpl{"avx2", set(true)})
	}
	return impls
}

// TestAVX2Detected: the machines CI and benchmarks run on have AVX2; a
// detection that failed there would silently fall back to SSE2.
func TestAVX2Detected(t *testing.T) {
	if !hasAVX2() {
		t.Skip("this CPU has no AVX2")
	}
	if !useAVX2 {
		t.Error("hasAVX2 is true but useAVX2 is false")
	}
}
