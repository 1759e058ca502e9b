//go:build !amd64 || purego

package tagindex

type classifyImpl struct {
	name string
	use  func() (restore func())
}

func classifyImpls() []classifyImpl {
	return []classifyImpl{{"generic", func() func() { return func() {} }}}
}
