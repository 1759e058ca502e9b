//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package embedded

import (
	"errors"
	"os"
	"syscall"
)

// flock takes an exclusive, non-blocking flock(2) on f. flock belongs to
// the open file description, so it also excludes a second open of the same
// file in this process, and the kernel drops it when the process dies
// (SIGKILL included): no stale lock survives a crash.
func flock(f *os.File) (held bool, err error) {
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}
