package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/testenv"
)

// Emulator is a gcloud emulator (Pub/Sub or Firestore) that a test stops
// and starts again on the same port. Both keep their data in memory: a
// restart starts empty.
type Emulator struct {
	t    testing.TB
	bin  string
	args []string
	Port int

	mu   sync.Mutex
	proc *testenv.Process
}

// gcloudRoot is where gcloud's emulators live, as gcloud itself says.
var gcloudRoot = sync.OnceValue(func() string {
	out, err := exec.Command("gcloud", "info", "--format=value(installation.sdk_root)").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
})

// StartPubSubEmulator starts the gcloud Pub/Sub emulator on a free loopback
// port. Without it, the test is skipped, or fails under
// REQUIRE_INTEGRATION=1. The test's cleanup stops it.
func StartPubSubEmulator(t testing.TB) *Emulator {
	t.Helper()
	return startEmulator(t, "platform/pubsub-emulator/bin/cloud-pubsub-emulator", "gcloud pubsub emulator", func(port int) []string {
		return []string{"--host=127.0.0.1", "--port=" + strconv.Itoa(port)}
	})
}

// StartFirestoreEmulator starts the gcloud Firestore emulator as
// StartPubSubEmulator starts Pub/Sub's.
func StartFirestoreEmulator(t testing.TB) *Emulator {
	t.Helper()
	return startEmulator(t, "platform/cloud-firestore-emulator/cloud_firestore_emulator", "gcloud firestore emulator", func(port int) []string {
		return []string{"start", "--host=127.0.0.1", "--port=" + strconv.Itoa(port), "--database-mode=firestore-native"}
	})
}

func startEmulator(t testing.TB, rel, what string, args func(int) []string) *Emulator {
	t.Helper()
	root := gcloudRoot()
	bin := filepath.Join(root, rel)
	if _, err := os.Stat(bin); root == "" || err != nil {
		testenv.Missing(t, "%s", what)
	}
	e := &Emulator{t: t, bin: bin, Port: FreePort(t)}
	e.args = args(e.Port)
	e.Start()
	return e
}

// Addr returns the emulator's host:port.
func (e *Emulator) Addr() string { return "127.0.0.1:" + strconv.Itoa(e.Port) }

// Start starts the emulator (again, after Stop) and waits until it answers.
func (e *Emulator) Start() {
	e.t.Helper()
	p := testenv.Start(e.t, e.t.TempDir(), e.bin, e.args...)
	e.mu.Lock()
	e.proc = p
	e.mu.Unlock()
	testenv.WaitHTTP(e.t, p, "http://"+e.Addr()+"/", 90*time.Second)
}

// Stop stops the emulator's whole process group and waits.
func (e *Emulator) Stop() {
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	p.Stop()
}
