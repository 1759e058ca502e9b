package harness

import (
	"os"
	"strconv"
	"strings"
)

// ProcStatus is what /proc/PID tells about a process's resources.
type ProcStatus struct {
	RSS     int64 // VmRSS, bytes
	HWM     int64 // VmHWM (peak RSS), bytes
	Threads int
	FDs     int // open file descriptors
}

// ReadProcStatus reads /proc/PID/status and /proc/PID/fd; ok is false when
// the process is gone (or the system has no /proc).
func ReadProcStatus(pid int) (ProcStatus, bool) {
	var st ProcStatus
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/status")
	if err != nil {
		return st, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			st.RSS = n << 10
		case "VmHWM":
			st.HWM = n << 10
		case "Threads":
			st.Threads = int(n)
		}
	}
	if ents, err := os.ReadDir(dir + "/fd"); err == nil {
		st.FDs = len(ents)
	}
	return st, true
}
