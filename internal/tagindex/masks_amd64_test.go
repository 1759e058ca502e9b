//go:build amd64 && !purego

package tagindex

type classifyImpl struct {
	name string
	use  func() (restore func())
}

// classifyImpls are the vector codes this CPU runs: SSE2, the amd64
// baseline.
func classifyImpls() []classifyImpl {
	return []classifyImpl{{"sse2", func() func() { return func() {} }}}
}
