package harness

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	natsBinOnce sync.Once
	natsBinPath string
	natsBinErr  error
)

// NATSServerBinary builds nats-server, at the version this module
// requires, once per test run (from the module cache: the build needs no
// network once `go mod download` ran) and returns its path. It is removed
// with the service binary by Main.
func NATSServerBinary(t testing.TB) string {
	t.Helper()
	Binary(t) // makes binDir, and skips with -short
	natsBinOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		root, err := moduleRoot(ctx, goTool)
		if err != nil {
			natsBinErr = err
			return
		}
		natsBinPath = filepath.Join(binDir, "nats-server")
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", natsBinPath, "github.com/nats-io/nats-server/v2")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			natsBinErr = fmt.Errorf("go build nats-server in %s: %v\n%s", root, err, out)
		}
	})
	if natsBinErr != nil {
		t.Fatal(natsBinErr)
	}
	return natsBinPath
}

// NATSProcess is nats-server with JetStream running as a process on
// loopback, so that a test can kill it (SIGKILL), freeze it (SIGSTOP) and
// restart it on the same port and store.
type NATSProcess struct {
	t       testing.TB
	bin     string
	Port    int    // client port
	Monitor int    // HTTP monitoring port
	Store   string // JetStream store directory
	Token   string // required token, or ""

	mu   sync.Mutex
	proc *Proc
}

// StartNATSProcess starts nats-server with JetStream on free loopback ports
// and a store in a temporary directory, requiring token unless empty, and
// waits until JetStream is healthy. The test's cleanup kills it.
func StartNATSProcess(t testing.TB, token string) *NATSProcess {
	t.Helper()
	n := &NATSProcess{t: t, bin: NATSServerBinary(t), Port: FreePort(t), Monitor: FreePort(t), Store: t.TempDir(), Token: token}
	for n.Monitor == n.Port {
		n.Monitor = FreePort(t)
	}
	n.Start()
	return n
}

// URL returns the client URL.
func (n *NATSProcess) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(n.Port) }

// Start starts the server (again, after Kill) on the same ports and store,
// and waits up to 20 s until JetStream is healthy.
func (n *NATSProcess) Start() {
	n.t.Helper()
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(n.Port), "-m", strconv.Itoa(n.Monitor), "-js", "-sd", n.Store}
	if n.Token != "" {
		args = append(args, "--auth", n.Token)
	}
	p := StartProgram(n.t, n.bin, map[string]string{"HOME": n.Store}, args...)
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	url := "http://127.0.0.1:" + strconv.Itoa(n.Monitor) + "/healthz?js-enabled-only=true"
	WaitFor(n.t, 20*time.Second, 20*time.Millisecond, "nats-server healthy", func() (bool, string) {
		select {
		case <-p.Done():
			n.t.Fatalf("nats-server exited:\n%s", Tail(p.Stderr(), 4000))
		default:
		}
		resp, err := HTTPClient.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// Pid returns the running server's process id.
func (n *NATSProcess) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc.Pid()
}

// Kill ends the server with SIGKILL and waits for it: a crash. What it
// wrote to its store stays.
func (n *NATSProcess) Kill() {
	n.t.Helper()
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	p.Signal(syscall.SIGKILL)
	if _, ok := p.Wait(10 * time.Second); !ok {
		n.t.Fatal("nats-server still running 10 s after SIGKILL")
	}
}

// Stop freezes the server with SIGSTOP: its sockets stay open, nothing
// answers.
func (n *NATSProcess) Stop() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.proc.Signal(syscall.SIGSTOP)
}

// Cont resumes a server frozen by Stop.
func (n *NATSProcess) Cont() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.proc.Signal(syscall.SIGCONT)
}
