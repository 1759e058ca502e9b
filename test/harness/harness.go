// Package harness runs the service as its users do, for the tests that
// treat it as a black box (test/e2e, the fault suite): it builds the
// binary once per test run, starts it as a process in its own process group
// with exactly the environment given, collects its JSON log records, reads
// its HTTP endpoints (/readyz, /_debug/twitch, /metrics), starts NATS and
// the fake Twitch and OAuth servers on loopback, puts a slow proxy in front
// of a server, reads the stream back and checks the envelopes against what
// the fake server sent.
//
// Every helper takes the test's testing.TB, fails it on error and stops
// what it started when the test ends. Servers that may be missing (the
// gcloud emulators, InspIRCd) come from internal/testenv, which skips a
// test without them, or fails it under REQUIRE_INTEGRATION=1.
//
// A package using Binary calls Main from its TestMain, so that the built
// binary is removed at the end:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/testenv"
)

// ModulePath is the service's module, whose root holds package main.
const ModulePath = "github.com/ingress-egress/ingress-egress"

var (
	binOnce sync.Once
	binDir  string // removed by Main
	binPath string
	binErr  error
)

// Main runs the tests of m, removes the binary that Binary built, and
// exits with the tests' code.
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// Binary builds the service once per test run (the build takes seconds
// even with a warm cache) and returns its path; with the race detector
// when the tests run with it (Race), so that a data race in the running
// service ends it with a report on stderr and exit code 66. Tests that run
// the binary are skipped with -short.
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "ingress-egress-e2e-")
		if binErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		binPath = filepath.Join(binDir, "ingress-egress")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		root, err := moduleRoot(ctx, goTool)
		if err != nil {
			binErr = err
			return
		}
		args := []string{"build", "-o", binPath, "-ldflags", "-X main.version=e2e-test"}
		if Race {
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, goTool, append(args, ".")...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build in %s: %v\n%s", root, err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// ModuleRoot returns the directory of the service's module (see Binary).
func ModuleRoot() (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return moduleRoot(ctx, goTool)
}

// moduleRoot asks the go tool for the directory of ModulePath, resolved
// from the working directory: this module, or a module that requires it
// (bench/, with its replace directive). Without an answer it walks up from
// the working directory to the nearest go.mod that declares ModulePath.
func moduleRoot(ctx context.Context, goTool string) (string, error) {
	out, err := exec.CommandContext(ctx, goTool, "list", "-f", "{{.Dir}}", ModulePath).Output()
	if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
		return dir, nil
	}
	wd, werr := os.Getwd()
	if werr != nil {
		return "", fmt.Errorf("finding the module root: go list: %v; working directory: %v", err, werr)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, rerr := os.ReadFile(filepath.Join(dir, "go.mod")); rerr == nil && declaresModule(b, ModulePath) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("finding the module root: go list %s: %v, and no go.mod of it above %s", ModulePath, err, wd)
		}
	}
}

// declaresModule reports whether the go.mod text b declares module path.
func declaresModule(b []byte, path string) bool {
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

// FreePort returns a port of 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return testenv.FreePort(t)
}

// WaitFor polls cond every interval until it returns true, failing the test
// after d with what cond last reported.
func WaitFor(t testing.TB, d, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, d, last)
		}
		time.Sleep(interval)
	}
}
