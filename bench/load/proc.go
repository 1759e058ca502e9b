package load

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcCPU returns the user+system CPU seconds process pid has used, from
// /proc/PID/stat (pid 0: this process).
func ProcCPU(pid int) (float64, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: the
	// fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("load: cannot parse %s", procPath(pid, "stat"))
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("load: cannot parse %s", procPath(pid, "stat"))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("load: cannot parse %s", procPath(pid, "stat"))
	}
	return float64(ut+st) / clockTicks, nil
}

// ProcMem returns process pid's resident set size now (VmRSS) and its peak
// (VmHWM), in bytes, from /proc/PID/status (pid 0: this process).
func ProcMem(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "1234 kB"
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	return rss, hwm, nil
}

func procPath(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

// gcTrace accumulates the GODEBUG=gctrace=1 lines a Go process writes to
// stderr, to estimate how much it allocated: the heap at the start of a
// cycle minus the live heap after the previous one is what was allocated in
// between (at the trace's 1 MB resolution).
type gcTrace struct {
	cycles    int
	allocMB   float64
	lastLive  float64
	seenFirst bool
	maxHeap   float64 // the largest heap at the start of a cycle, MB
}

// line feeds one stderr line; other lines are ignored. A trace line looks
// like "gc 12 @3.101s 1%: 0.02+1.1+0.01 ms clock, ..., 4->5->2 MB, 5 MB goal, ...".
func (g *gcTrace) line(s string) {
	if !strings.HasPrefix(s, "gc ") {
		return
	}
	_, rest, ok := strings.Cut(s, " ms cpu, ")
	if !ok {
		return
	}
	heap, _, ok := strings.Cut(rest, " MB")
	if !ok {
		return
	}
	parts := strings.Split(heap, "->")
	if len(parts) != 3 {
		return
	}
	start, err1 := strconv.ParseFloat(parts[0], 64)
	live, err2 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil {
		return
	}
	g.cycles++
	g.maxHeap = max(g.maxHeap, start)
	if g.seenFirst {
		g.allocMB += max(0, start-g.lastLive)
	} else {
		g.allocMB += start
		g.seenFirst = true
	}
	g.lastLive = live
}

// MachineCPU is the whole machine's CPU time by state, in seconds summed
// over all cores, from the "cpu" line of /proc/stat.
type MachineCPU struct {
	User   float64 `json:"user"`   // user + nice
	System float64 `json:"system"` // system + irq + softirq
	IOWait float64 `json:"iowait"`
	Idle   float64 `json:"idle"`
	Steal  float64 `json:"steal"`
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("load: cannot parse /proc/stat")
	}
	v := make([]float64, 8)
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("load: cannot parse /proc/stat")
		}
		v[i] = float64(n) / clockTicks
	}
	return MachineCPU{User: v[0] + v[1], System: v[2] + v[5] + v[6], Idle: v[3], IOWait: v[4], Steal: v[7]}, nil
}

// Sub returns m − o.
func (m MachineCPU) Sub(o MachineCPU) MachineCPU {
	return MachineCPU{User: m.User - o.User, System: m.System - o.System, IOWait: m.IOWait - o.IOWait,
		Idle: m.Idle - o.Idle, Steal: m.Steal - o.Steal}
}

// Total is the sum of the states.
func (m MachineCPU) Total() float64 { return m.User + m.System + m.IOWait + m.Idle + m.Steal }
