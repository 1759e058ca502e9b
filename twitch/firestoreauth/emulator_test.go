package firestoreauth

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/ingress-egress/ingress-egress/internal/testenv"
)

// One Firestore emulator serves every test of this binary: it is started
// by the first test that needs it and stopped by TestMain.

const project = "ingress-egress-test"

var emu struct {
	once    sync.Once
	tb      mainTB
	addr    string
	skipped string // testenv skipped: the emulator is not installed
	failed  string // testenv failed (REQUIRE_INTEGRATION=1, or start error)
}

func TestMain(m *testing.M) {
	code := m.Run()
	emu.tb.runCleanups()
	os.Exit(code)
}

// emulator returns the shared emulator's host:port with all its data
// deleted, or skips t (fails it under REQUIRE_INTEGRATION=1).
func emulator(t *testing.T) string {
	t.Helper()
	emu.once.Do(func() {
		defer func() {
			switch r := recover().(type) {
			case nil:
			case tbStop:
				if r.skip {
					emu.skipped = r.msg
				} else {
					emu.failed = r.msg
				}
			default:
				panic(r)
			}
		}()
		emu.addr = testenv.FirestoreEmulator(&emu.tb)
	})
	switch {
	case emu.failed != "":
		t.Fatalf("firestore emulator: %s", emu.failed)
	case emu.skipped != "":
		testenv.Missing(t, "%s", emu.skipped)
	}
	wipe(t, emu.addr)
	return emu.addr
}

// wipe deletes every document of the test project.
func wipe(t *testing.T, addr string) {
	t.Helper()
	url := fmt.Sprintf("http://%s/emulator/v1/projects/%s/databases/(default)/documents", addr, project)
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("wipe emulator: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("wipe emulator: %s", resp.Status)
	}
}

// client returns a Firestore client for addr, closed when t ends.
func client(t *testing.T, addr string) *firestore.Client {
	t.Helper()
	t.Setenv("FIRESTORE_EMULATOR_HOST", addr)
	c, err := firestore.NewClient(context.Background(), project)
	if err != nil {
		t.Fatalf("firestore client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mainTB is the testing.TB the shared emulator is started with: its
// cleanups run after all tests, and Fatalf/Skipf stop the start by a panic
// that emulator recovers.
type mainTB struct {
	testing.TB // nil; only the methods below are called
	mu         sync.Mutex
	cleanups   []func()
	dirs       []string
}

type tbStop struct {
	skip bool
	msg  string
}

func (tb *mainTB) Helper()             {}
func (tb *mainTB) Name() string        { return "TestMain" }
func (tb *mainTB) Logf(string, ...any) {}
func (tb *mainTB) Fatalf(format string, args ...any) {
	panic(tbStop{msg: fmt.Sprintf(format, args...)})
}
func (tb *mainTB) Skipf(format string, args ...any) {
	panic(tbStop{skip: true, msg: fmt.Sprintf(format, args...)})
}
func (tb *mainTB) Cleanup(f func()) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.cleanups = append(tb.cleanups, f)
}
func (tb *mainTB) TempDir() string {
	d, err := os.MkdirTemp("", "firestoreauth-emulator-")
	if err != nil {
		tb.Fatalf("temp dir: %v", err)
	}
	tb.mu.Lock()
	tb.dirs = append(tb.dirs, d)
	tb.mu.Unlock()
	return d
}

func (tb *mainTB) runCleanups() {
	tb.mu.Lock()
	cs, dirs := tb.cleanups, tb.dirs
	tb.cleanups, tb.dirs = nil, nil
	tb.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}

// eventually polls cond every 20 ms for at most d (the emulator and the
// fake Twitch server are real servers: this is not a timing test).
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
