package outbox

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingress-egress/ingress-egress/bus/bustest"
	"github.com/ingress-egress/ingress-egress/internal/testenv"
)

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"536870912\n", 536870912, true},
		{"max\n", 0, false},
		{"9223372036854771712\n", 0, false}, // cgroup v1: no limit
		{"", 0, false},
		{"-1", 0, false},
	} {
		got, ok := parseLimit(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseLimit(%q) = %d, %v, want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLostSince(t *testing.T) {
	for _, tc := range []struct {
		m           mark
		last        uint64
		from, to, n uint64
	}{
		{mark{LastSeq: 100, ForwardedBelow: 1}, 100, 0, 0, 0},   // nothing lost
		{mark{LastSeq: 100, ForwardedBelow: 1}, 98, 99, 100, 2}, // a torn tail
		{mark{LastSeq: 100, ForwardedBelow: 101}, 0, 0, 0, 0},   // all forwarded, the store empty
		{mark{LastSeq: 100, ForwardedBelow: 99}, 0, 99, 100, 2}, // two stored and gone
		{mark{LastSeq: 90, ForwardedBelow: 1}, 120, 0, 0, 0},    // the mark is behind (a crash)
	} {
		from, to, n := lostSince(tc.m, tc.last)
		if from != tc.from || to != tc.to || n != tc.n {
			t.Errorf("lostSince(%+v, %d) = %d..%d (%d), want %d..%d (%d)", tc.m, tc.last, from, to, n, tc.from, tc.to, tc.n)
		}
	}
}

// tmpfsDir returns a writable directory on a tmpfs mount, found in
// /proc/mounts (not by the statfs call under test).
func tmpfsDir(t *testing.T) string {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		testenv.Missing(t, "/proc/mounts")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != "tmpfs" {
			continue
		}
		dir, err := os.MkdirTemp(fields[1], "outbox-probe-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	testenv.Missing(t, "a writable tmpfs mount (/dev/shm)")
	return ""
}

func TestProbe(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "outbox"), tmpfsDir(t)} {
		info, err := Probe(dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := onTmpfs(t, dir); info.Tmpfs != want {
			t.Errorf("Probe(%s).Tmpfs = %v, /proc/mounts says %v", dir, info.Tmpfs, want)
		}
		if info.MemoryLimit <= 0 || info.MemoryCap() != info.MemoryLimit/4 {
			t.Errorf("MemoryLimit %d, MemoryCap %d", info.MemoryLimit, info.MemoryCap())
		}
	}
	if _, err := Probe("/proc/outbox-cannot-create"); err == nil {
		t.Error("Probe of a directory that cannot be created: no error")
	}
}

// onTmpfs reports whether dir is under a tmpfs mount, from /proc/mounts.
func onTmpfs(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	best, fs := "", ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (dir == f[1] || strings.HasPrefix(dir, strings.TrimSuffix(f[1], "/")+"/")) && len(f[1]) > len(best) {
			best, fs = f[1], f[2]
		}
	}
	return fs == "tmpfs"
}

// TestBoundBelowDisk: a bound larger than the disk is lowered below what
// the disk holds, so that storing waits before JetStream runs out of space.
func TestBoundBelowDisk(t *testing.T) {
	defer func(f func(string) int64) { diskFree = f }(diskFree)
	diskFree = func(string) int64 { return 10 << 20 }
	ob, err := Open(context.Background(), Options{Dir: t.TempDir(), Remote: bustest.New(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if got := ob.Stats().MaxBytes; got <= 0 || got > 10<<20 {
		t.Errorf("MaxBytes = %d with 10 MiB free, want at most that", got)
	}
}
