package outbox

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DirInfo describes the filesystem a store directory is on.
type DirInfo struct {
	// Tmpfs is true on a memory-backed filesystem (tmpfs, ramfs): what the
	// store holds is memory of the process's cgroup.
	Tmpfs bool
	// MemoryLimit is the cgroup's memory limit, or the machine's memory
	// when there is none; 0 when unknown.
	MemoryLimit int64
}

// MemoryCap is the largest MaxBytes for a store on a memory-backed
// filesystem: a quarter of the memory limit (0 when the limit is unknown).
func (d DirInfo) MemoryCap() int64 { return d.MemoryLimit / 4 }

// Probe creates dir if needed, checks that a file can be created in it and
// describes its filesystem.
func Probe(dir string) (DirInfo, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return DirInfo{}, fmt.Errorf("outbox: cannot create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return DirInfo{}, fmt.Errorf("outbox: %s is not writable: %w", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return DirInfo{Tmpfs: memoryBacked(dir), MemoryLimit: memoryLimit()}, nil
}

// cgroupFiles are where the memory limit is read: cgroup v2, then v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// memoryLimit is the cgroup's memory limit, else the machine's memory.
func memoryLimit() int64 {
	for _, p := range cgroupFiles {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if n, ok := parseLimit(string(b)); ok {
			return n
		}
	}
	return totalMemory()
}

// parseLimit reads a cgroup memory limit; "max" and v1's near-2^63 value
// mean none.
func parseLimit(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0, false
	}
	return n, true
}

// dirSize is the size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
