//go:build race

package harness

// Race reports whether the tests run with the race detector; the service
// binary is then built with it too.
const Race = true
