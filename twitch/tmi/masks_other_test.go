//go:build !amd64 || purego

package tmi

type classifyImpl struct {
	name string
	use  func() (restore func())
}

func classifyImpls() []classifyImpl {
	return []classifyImpl{{"generic", func() func() { return func() {} }}}
}
