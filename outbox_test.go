package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/internal/testenv"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// TestPlanOutbox: when the outbox runs, where, and with which bound.
func TestPlanOutbox(t *testing.T) {
	writable := t.TempDir()
	unwritable := "/proc/ingress-egress-cannot-create"
	for _, tc := range []struct {
		driver, mode, dataDir string
		on, fails             bool
		warns                 string
	}{
		{"nats", "auto", writable, true, false, ""},
		{"pubsub", "auto", writable, true, false, ""},
		{"nats-core", "auto", writable, false, false, ""},
		{"nats-core", "disk", writable, true, false, ""},
		{"nats", "off", writable, false, false, ""},
		{"embedded", "auto", writable, false, false, ""},
		{"stdout", "auto", writable, false, false, ""},
		{"nats", "auto", unwritable, false, false, "outbox off"},
		{"nats", "disk", unwritable, false, true, ""},
	} {
		var logs bytes.Buffer
		c := &config{busDriver: tc.driver, outbox: tc.mode, dataDir: tc.dataDir, outboxMaxBytes: 1 << 30}
		p, err := c.planOutbox(slog.New(slog.NewTextHandler(&logs, nil)))
		if (err != nil) != tc.fails || p.on != tc.on {
			t.Errorf("%s, OUTBOX=%s, DATA_DIR %s: on %v, error %v; want on %v, error %v", tc.driver, tc.mode, tc.dataDir, p.on, err, tc.on, tc.fails)
			continue
		}
		if p.on && (p.dir != filepath.Join(tc.dataDir, "outbox") || p.maxBytes != 1<<30) {
			t.Errorf("%s, OUTBOX=%s: dir %s, maxBytes %d", tc.driver, tc.mode, p.dir, p.maxBytes)
		}
		if tc.warns != "" && !strings.Contains(logs.String(), tc.warns) {
			t.Errorf("%s, OUTBOX=%s, DATA_DIR %s: log %q, want a warning %q", tc.driver, tc.mode, tc.dataDir, logs.String(), tc.warns)
		}
	}
}

// TestPlanOutboxLeftover: an outbox turned off with records left from an
// earlier run says so at start.
func TestPlanOutboxLeftover(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dataDir, "outbox"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "outbox", "mark.json"), []byte(`{"lastSeq":12,"forwardedBelow":10}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c := &config{busDriver: "nats", outbox: "off", dataDir: dataDir}
	if p, err := c.planOutbox(slog.New(slog.NewTextHandler(&logs, nil))); err != nil || p.on {
		t.Fatalf("on %v, error %v", p.on, err)
	}
	if !strings.Contains(logs.String(), "did not forward") || !strings.Contains(logs.String(), "records=3") {
		t.Errorf("log %q: want a warning naming 3 records left", logs.String())
	}
}

// TestPlanOutboxTmpfs: on a memory-backed DATA_DIR the bound is capped at
// a quarter of the memory limit, with a warning that says to mount a disk.
func TestPlanOutboxTmpfs(t *testing.T) {
	dir := tmpfsDir(t)
	var logs bytes.Buffer
	c := &config{busDriver: "pubsub", outbox: "auto", dataDir: dir, outboxMaxBytes: 1 << 44}
	p, err := c.planOutbox(slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || !p.on {
		t.Fatalf("on %v, error %v", p.on, err)
	}
	if p.maxBytes >= 1<<44 || p.maxBytes <= 0 {
		t.Errorf("maxBytes %d on a tmpfs: not capped", p.maxBytes)
	}
	if !strings.Contains(logs.String(), "tmpfs") || !strings.Contains(logs.String(), "mount a disk volume") {
		t.Errorf("log %q: no tmpfs warning", logs.String())
	}
}

// tmpfsDir returns a writable directory on a tmpfs mount from /proc/mounts.
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
		if dir, err := os.MkdirTemp(fields[1], "ingress-egress-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	testenv.Missing(t, "a writable tmpfs mount (/dev/shm)")
	return ""
}

func TestParseOutboxSync(t *testing.T) {
	for _, tc := range []struct {
		in     string
		every  time.Duration
		always bool
		bad    bool
	}{
		{"2m", 2 * time.Minute, false, false},
		{"1s", time.Second, false, false},
		{"always", 0, true, false},
		{" Always ", 0, true, false},
		{"never", 0, false, true},
		{"1ms", 0, false, true},
		{"2h", 0, false, true},
	} {
		c := &config{}
		err := c.parseOutboxSync(tc.in)
		if (err != nil) != tc.bad || c.outboxSync != tc.every || c.outboxSyncAlways != tc.always {
			t.Errorf("parseOutboxSync(%q) = %v, %v, %v; want %v, %v, error %v", tc.in, c.outboxSync, c.outboxSyncAlways, err, tc.every, tc.always, tc.bad)
		}
	}
}

// TestReplayThroughOutbox: replay with the nats driver goes through the
// outbox and waits until it forwarded everything before it exits.
func TestReplayThroughOutbox(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "INGRESS", Subjects: []string{"internal.>"}, Duplicates: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var capture strings.Builder
	for i := range n {
		capture.WriteString(twitchtest.PrivmsgLine("chan", fmt.Sprintf("%08d-0000-4000-8000-%012d", i, i), i) + "\r\n")
	}
	dataDir := t.TempDir()
	env := map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.ClientURL(), "DATA_DIR": dataDir, "LOG_LEVEL": "warn"}
	var out, errOut bytes.Buffer
	if code := run([]string{"replay", "-"}, envMap(env), strings.NewReader(capture.String()), &out, &errOut); code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(dataDir, "outbox", "lock")); err != nil {
		t.Errorf("no outbox under DATA_DIR: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		ids[m.Header.Get("Nats-Msg-Id")] = true
	}
	if info.State.Msgs != n || len(ids) != n {
		t.Errorf("stream holds %d envelopes (%d distinct ids) after replay, want %d", info.State.Msgs, len(ids), n)
	}
}
