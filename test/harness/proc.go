package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer safe for concurrent use that also splits
// what it receives into lines.
type lockedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
	part  []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	b.part = append(b.part, p...)
	for {
		i := bytes.IndexByte(b.part, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, string(b.part[:i]))
		b.part = b.part[i+1:]
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// Proc is a program running as a process in its own process group, with
// its stdout and stderr kept in memory.
type Proc struct {
	t        testing.TB
	cmd      *exec.Cmd
	stdout   *lockedBuffer
	stderr   *lockedBuffer
	done     chan struct{} // closed when the process has exited
	exitCode int           // set before done is closed
	exitedAt time.Time     // set before done is closed
}

// Start starts the service binary (Binary) with exactly env (nothing is
// inherited from the test's environment) and args, in its own process
// group and a temporary working directory. The test's cleanup kills the
// group if the process is still running, and on failure logs the end of
// its stderr.
func Start(t testing.TB, env map[string]string, args ...string) *Proc {
	t.Helper()
	bin := Binary(t)
	var extra []string
	if Race {
		// The race detector sleeps 1 s at exit by default: it would count
		// against the shutdown deadline under test.
		extra = []string{"GORACE=atexit_sleep_ms=0"}
	}
	return startProgram(t, bin, extra, env, args)
}

// StartProgram starts bin as Start starts the service: exactly env, its
// own process group, stopped by the test's cleanup.
func StartProgram(t testing.TB, bin string, env map[string]string, args ...string) *Proc {
	t.Helper()
	return startProgram(t, bin, nil, env, args)
}

func startProgram(t testing.TB, bin string, extra []string, env map[string]string, args []string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{}, extra...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{t: t, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		err := cmd.Wait()
		p.exitedAt = time.Now()
		p.exitCode = 0
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				p.exitCode = ee.ExitCode()
			} else {
				p.exitCode = -1
			}
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("process %d did not end after SIGKILL", cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("stderr of %s:\n%s", bin, Tail(p.stderr.String(), 8000))
		}
	})
	return p
}

// Tail returns the last n bytes of s, marked as cut when it is longer.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// Pid returns the process id, which is also its process group id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) {
	p.t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		p.t.Fatalf("kill %v: %v", sig, err)
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits up to d for the process to exit and returns its exit code
// (-1 when it was not an exit) and whether it exited.
func (p *Proc) Wait(d time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.exitCode, true
	case <-time.After(d):
		return -1, false
	}
}

// ExitedAt returns when the process was seen to exit; the zero time while
// it runs.
func (p *Proc) ExitedAt() time.Time {
	select {
	case <-p.done:
		return p.exitedAt
	default:
		return time.Time{}
	}
}

// Stdout returns what the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// StderrLines returns the complete lines written to stderr so far.
func (p *Proc) StderrLines() []string { return p.stderr.Lines() }

// Logs returns the JSON log records written to stderr so far; a line that
// is not a JSON object fails the test (every log line must be one).
func (p *Proc) Logs() []map[string]any {
	p.t.Helper()
	var out []map[string]any
	for _, l := range p.stderr.Lines() {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			p.t.Errorf("stderr line is not a JSON log record: %q", l)
			continue
		}
		out = append(out, rec)
	}
	return out
}

// WaitLog waits up to d for a log record with the message msg and returns
// it. The test fails when the process exits first or d passes.
func (p *Proc) WaitLog(msg string, d time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, l := range p.stderr.Lines() {
			if !strings.Contains(l, msg) {
				continue
			}
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) == nil && rec["message"] == msg {
				return rec
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("process exited (code %d) before logging %q:\n%s", p.exitCode, msg, Tail(p.stderr.String(), 8000))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no log record %q within %v:\n%s", msg, d, Tail(p.stderr.String(), 8000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FindLogs returns the records with message msg.
func (p *Proc) FindLogs(msg string) []map[string]any {
	var out []map[string]any
	for _, rec := range p.Logs() {
		if rec["message"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// HTTPBase waits for the service's "started" record and returns the base
// URL of its HTTP server on loopback.
func (p *Proc) HTTPBase() string {
	p.t.Helper()
	rec := p.WaitLog("started", 20*time.Second)
	addr, _ := rec["http"].(string)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.t.Fatalf("started record has no http address: %v", rec)
	}
	return "http://127.0.0.1:" + port
}
