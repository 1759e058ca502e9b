// Package testenv starts the real servers that integration tests talk to
// (gcloud emulators, and by other files InspIRCd), on 127.0.0.1 only, and
// stops them when the test ends.
//
// A test that needs a server which is not installed skips, unless
// REQUIRE_INTEGRATION=1 is set (as .ci/run does): then it fails.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Required reports whether integration servers must be present.
func Required() bool { return os.Getenv("REQUIRE_INTEGRATION") == "1" }

// Missing skips t, or fails it under REQUIRE_INTEGRATION=1.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("integration server missing (REQUIRE_INTEGRATION=1): %s", msg)
	}
	t.Skipf("integration server missing: %s", msg)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Process is a server started in its own process group.
type Process struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// Start runs name with args in dir, in a new process group, and stops the
// whole group when t ends.
func Start(t testing.TB, dir, name string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Process{cmd: cmd, log: new(bytes.Buffer), mu: new(sync.Mutex), done: make(chan struct{})}
	w := lockedBuffer{p.mu, p.log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Stop)
	return p
}

// Log returns what the process printed so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Stop sends SIGTERM to the process group, then SIGKILL after 5 s, and waits.
// It is safe to call more than once.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// The group may outlive its leader (the Java child of a wrapper script).
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// WaitHTTP polls url until it answers 200 or the deadline passes.
func WaitHTTP(t testing.TB, p *Process, url string, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not ready within %v; log:\n%s", url, within, p.Log())
		case <-p.Done():
			t.Fatalf("server exited before %s was ready; log:\n%s", url, p.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var sdkRoot = sync.OnceValue(func() string {
	if d := os.Getenv("CLOUDSDK_ROOT_DIR"); d != "" {
		return d
	}
	out, err := exec.Command("gcloud", "info", "--format=value(installation.sdk_root)").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
})

// PubSubEmulator starts the gcloud Pub/Sub emulator on a free loopback port
// and returns its host:port (for PUBSUB_EMULATOR_HOST).
func PubSubEmulator(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(sdkRoot(), "platform/pubsub-emulator/bin/cloud-pubsub-emulator")
	if _, err := os.Stat(bin); sdkRoot() == "" || err != nil {
		Missing(t, "gcloud pubsub emulator")
	}
	port := FreePort(t)
	p := Start(t, t.TempDir(), bin, "--host=127.0.0.1", fmt.Sprintf("--port=%d", port))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	WaitHTTP(t, p, "http://"+addr+"/", 60*time.Second)
	return addr
}

// FirestoreEmulator starts the gcloud Firestore emulator on a free loopback
// port and returns its host:port (for FIRESTORE_EMULATOR_HOST).
func FirestoreEmulator(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(sdkRoot(), "platform/cloud-firestore-emulator/cloud_firestore_emulator")
	if _, err := os.Stat(bin); sdkRoot() == "" || err != nil {
		Missing(t, "gcloud firestore emulator")
	}
	port := FreePort(t)
	p := Start(t, t.TempDir(), bin, "start", "--host=127.0.0.1", fmt.Sprintf("--port=%d", port), "--database-mode=firestore-native")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	WaitHTTP(t, p, "http://"+addr+"/", 60*time.Second)
	return addr
}
