//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package embedded

import "os"

// flock is not available on this platform: the data directory is not
// locked, and two processes on one DATA_DIR are not detected.
func flock(f *os.File) (held bool, err error) { return false, nil }
