package outbox_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
	"github.com/ingress-egress/ingress-egress/bus/outbox"
	"github.com/ingress-egress/ingress-egress/internal/testenv"
)

const (
	ingress  = "test.internal.ingress.v1"
	finalize = "test.internal.finalize.v1"
)

var quiet = slog.New(slog.DiscardHandler)

// remote is an in-process nats-server with JetStream on 127.0.0.1 playing
// the remote bus. Its port and store survive stop and start.
type remote struct {
	t    *testing.T
	port int
	dir  string
	opts server.Options
	s    *server.Server
}

func startRemote(t *testing.T) *remote {
	t.Helper()
	r := &remote{t: t, port: testenv.FreePort(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	ensureStream(t, r.url())
	return r
}

func (r *remote) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", r.port) }

func (r *remote) start() {
	r.t.Helper()
	o := r.opts
	o.Host, o.Port, o.JetStream, o.StoreDir, o.NoLog, o.NoSigs = "127.0.0.1", r.port, true, r.dir, true, true
	s, err := server.NewServer(&o)
	if err != nil {
		r.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		r.t.Fatal("remote nats-server not ready")
	}
	r.s = s
}

func (r *remote) stop() {
	if r.s != nil {
		r.s.Shutdown()
		r.s.WaitForShutdown()
		r.s = nil
	}
}

func ensureStream(t *testing.T, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "INGRESS", Subjects: []string{ingress, finalize}, Duplicates: 2 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
}

// natsRemote is the remote driver as the service builds it in front of an
// outbox: no reconnect buffer, so that nothing is sent behind the
// forwarder's back after a reconnect.
func natsRemote(t *testing.T, url string) *natsbus.Driver {
	t.Helper()
	d, err := natsbus.New(context.Background(), natsbus.Options{URL: url, Logger: quiet,
		ReconnectBufSize: -1, ReconnectWait: 50 * time.Millisecond, ReconnectJitter: time.Millisecond,
		AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func openOutbox(t *testing.T, o outbox.Options) *outbox.Outbox {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	if o.Prefix == "" {
		o.Prefix = "test."
	}
	if o.RetryBackoff == 0 {
		o.RetryBackoff = 5 * time.Millisecond
		o.MaxBackoff = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ob, err := outbox.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

func newPublisher(ob *outbox.Outbox, o bus.Options) *bus.Publisher {
	o.Logger = quiet
	o.Prefix = "test."
	return bus.New(ob, o)
}

func envelope(i int) []byte {
	return fmt.Appendf(nil, `{"v":"1","id":"%d","source":{"channel":"ch%d"},"payload":{"text":"%s"}}`, i, i%3, strings.Repeat("x", 900))
}

func message(i int) bus.Message {
	return bus.Message{Subject: ingress, Data: envelope(i), MsgID: fmt.Sprintf("msg-%d", i),
		TraceParent: fmt.Sprintf("00-%032x-%016x-01", i+1, i+1), ContentType: "application/json",
		Received: time.Now()}
}

// readStream reads every message of the remote stream, in stream order.
func readStream(t *testing.T, url string) []*jetstream.RawStreamMsg {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "INGRESS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("GetMsg(%d): %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// check asserts that the remote stream holds msg-0..msg-(n-1) of want once
// each, with their headers, and per channel in publish order.
func check(t *testing.T, msgs []*jetstream.RawStreamMsg, want func(i int) bool, n int) {
	t.Helper()
	seen := map[int]int{}
	last := map[int]int{}
	for _, m := range msgs {
		if m.Subject != ingress {
			t.Errorf("unexpected subject %s: %.80s", m.Subject, m.Data)
			continue
		}
		id := m.Header.Get(natsbus.HeaderMsgID)
		var i int
		if _, err := fmt.Sscanf(id, "msg-%d", &i); err != nil {
			t.Fatalf("stored id %q", id)
		}
		seen[i]++
		if string(m.Data) != string(envelope(i)) {
			t.Fatalf("%s data = %.40q…, want envelope %d", id, m.Data, i)
		}
		if tp := m.Header.Get(natsbus.HeaderTraceParent); tp != message(i).TraceParent || m.Header.Get(natsbus.HeaderContentType) != "application/json" {
			t.Fatalf("%s headers = %v", id, m.Header)
		}
		if l, ok := last[i%3]; ok && i < l {
			t.Errorf("channel %d: msg %d stored after msg %d", i%3, i, l)
		}
		last[i%3] = i
	}
	missing := 0
	for i := range n {
		if want(i) && seen[i] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("msg-%d not delivered", i)
			}
		}
	}
	dups := 0
	for i, c := range seen {
		if c > 1 {
			dups++
			if dups <= 5 {
				t.Errorf("msg-%d stored %d times", i, c)
			}
		}
	}
	if missing > 0 || dups > 0 {
		t.Errorf("%d missing, %d duplicated of %d stored", missing, dups, len(msgs))
	}
}

func all(int) bool { return true }

func drain(t *testing.T, p *bus.Publisher, ob *outbox.Outbox, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("publisher flush: %v", err)
	}
	if err := ob.Drain(ctx); err != nil {
		t.Fatalf("drain: %v (stats %+v)", err, ob.Stats())
	}
}

func closePublisher(t *testing.T, p *bus.Publisher) bus.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := p.Close(ctx)
	if err != nil {
		t.Fatalf("publisher close: %v", err)
	}
	return rep
}

// waitFor polls cond every 5 ms for up to within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRoundTrip(t *testing.T) {
	r := startRemote(t)
	ob := openOutbox(t, outbox.Options{Dir: t.TempDir(), Remote: natsRemote(t, r.url())})
	p := newPublisher(ob, bus.Options{})
	const n = 3000
	for i := range n {
		if err := p.Publish(context.Background(), message(i)); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, p, ob, 60*time.Second)
	st := ob.Stats()
	if st.Stored != n || st.Forwarded != n || st.Messages != 0 || st.Remote != "ok" || !st.Ready ||
		st.Recovered != 0 || st.RecoveryLostRecords != 0 {
		t.Errorf("stats = %+v", st)
	}
	if st.ForwardLatency.Count != n {
		t.Errorf("ForwardLatency.Count = %d, want %d", st.ForwardLatency.Count, n)
	}
	rep := closePublisher(t, p)
	if rep.Stats.Acked != n || rep.Stats.Lost != 0 {
		t.Errorf("publisher stats = %+v", rep.Stats)
	}
	check(t, readStream(t, r.url()), all, n)
}

// TestRemoteJetStreamOutage: the remote stops while messages are being
// published and comes back on its store: the outbox keeps accepting (ready,
// remote degraded), and afterwards the remote holds every message once, in
// order.
func TestRemoteJetStreamOutage(t *testing.T) {
	r := startRemote(t)
	ob := openOutbox(t, outbox.Options{Dir: t.TempDir(), Remote: natsRemote(t, r.url())})
	p := newPublisher(ob, bus.Options{})
	const n = 20000
	var published atomic.Int64
	pubErr := make(chan error, 1)
	go func() {
		for i := range n {
			if err := p.Publish(context.Background(), message(i)); err != nil {
				pubErr <- err
				return
			}
			published.Store(int64(i + 1))
			if i%500 == 499 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		pubErr <- nil
	}()
	waitFor(t, 60*time.Second, "5,000 forwarded", func() bool { return ob.Stats().Forwarded >= 5000 })
	r.stop()
	down := ob.Stats().Forwarded
	waitFor(t, 60*time.Second, "15,000 published during the outage", func() bool { return published.Load() >= 15000 })
	waitFor(t, 10*time.Second, "the outbox to report the remote degraded", func() bool { return ob.Stats().Remote == "degraded" })
	st := ob.Stats()
	if !st.Ready || !ob.Ready() || !p.Ready() {
		t.Errorf("while the remote is down: outbox ready %v, publisher ready %v; want both true", ob.Ready(), p.Ready())
	}
	if st.Messages == 0 || st.Forwarded-down > 5000 {
		t.Errorf("during the outage: %d stored in the outbox, %d forwarded since the stop", st.Messages, st.Forwarded-down)
	}
	time.Sleep(300 * time.Millisecond) // the store's state is read at most every 250 ms
	if st := ob.Stats(); st.OldestAge < 300*time.Millisecond {
		t.Errorf("OldestAge = %v during the outage, want at least the 300 ms just waited", st.OldestAge)
	}
	spooled := st.Messages
	r.start()
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	drain(t, p, ob, 120*time.Second)
	st = ob.Stats()
	if st.Forwarded != n || st.Retries == 0 || st.Remote != "ok" {
		t.Errorf("after recovery: stats = %+v", st)
	}
	closePublisher(t, p)
	msgs := readStream(t, r.url())
	check(t, msgs, all, n)
	t.Logf("%d published, %d held in the outbox during the outage, %d on the remote stream, %d re-sends", n, spooled, len(msgs), st.Retries)
}

// TestFull: a small outbox fills while the remote is down; Publish blocks
// (no error, nothing dropped) and everything goes once the remote is back.
func TestFull(t *testing.T) {
	r := startRemote(t)
	r.stop()
	const maxBytes = 64 << 10
	ob := openOutbox(t, outbox.Options{Dir: t.TempDir(), Remote: natsRemote(t, r.url()), MaxBytes: maxBytes})
	p := newPublisher(ob, bus.Options{MaxQueue: 32, BatchSize: 8})
	const n = 500
	var published atomic.Int64
	pubErr := make(chan error, 1)
	go func() {
		for i := range n {
			if err := p.Publish(context.Background(), message(i)); err != nil {
				pubErr <- err
				return
			}
			published.Store(int64(i + 1))
		}
		pubErr <- nil
	}()
	waitFor(t, 30*time.Second, "the outbox to fill", func() bool { return ob.Stats().FullWaits > 0 && p.Stats().Blocked > 0 })
	// Held back: the publisher stops short of n, the store at its bound.
	time.Sleep(50 * time.Millisecond)
	st := ob.Stats()
	if got := published.Load(); got >= n {
		t.Fatalf("published %d of %d with a full outbox and a full queue: no backpressure", got, n)
	}
	if st.Bytes > maxBytes {
		t.Errorf("store holds %d bytes, bound %d", st.Bytes, maxBytes)
	}
	select {
	case err := <-pubErr:
		t.Fatalf("publishing ended while the outbox is full: %v", err)
	default:
	}
	r.start()
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	drain(t, p, ob, 60*time.Second)
	rep := closePublisher(t, p)
	if rep.Stats.Lost != 0 || rep.Stats.FailureEvents != 0 || rep.Stats.Acked != n {
		t.Errorf("publisher stats = %+v", rep.Stats)
	}
	check(t, readStream(t, r.url()), all, n)
}

// TestLock: a second Open on the same directory is refused.
func TestLock(t *testing.T) {
	r := startRemote(t)
	dir := t.TempDir()
	ob := openOutbox(t, outbox.Options{Dir: dir, Remote: natsRemote(t, r.url())})
	defer ob.Close()
	d := natsRemote(t, r.url())
	defer d.Close() // Open leaves the remote open on an error
	_, err := outbox.Open(context.Background(), outbox.Options{Dir: dir, Remote: d, Logger: quiet})
	if !errors.Is(err, outbox.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

// TestPermanentFailure: a message the remote refuses for good becomes a
// failure event on the finalize subject; the others are forwarded in order.
func TestPermanentFailure(t *testing.T) {
	r := &remote{t: t, port: testenv.FreePort(t), dir: t.TempDir()}
	r.opts.MaxPayload = 4096
	r.start()
	t.Cleanup(r.stop)
	ensureStream(t, r.url())
	ob := openOutbox(t, outbox.Options{Dir: t.TempDir(), Remote: natsRemote(t, r.url()), FailureEnvelopeMax: 1024})
	p := newPublisher(ob, bus.Options{})
	const n = 50
	for i := range n {
		m := message(i)
		if i == 20 {
			m.Data = fmt.Appendf(nil, `{"v":"1","id":"20","payload":{"text":"%s"}}`, strings.Repeat("y", 8000))
		}
		if err := p.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, p, ob, 60*time.Second)
	st := ob.Stats()
	if st.Forwarded != n-1 || st.FailureEvents != 1 || st.Lost != 0 {
		t.Errorf("stats = %+v", st)
	}
	closePublisher(t, p)
	msgs := readStream(t, r.url())
	var events []*jetstream.RawStreamMsg
	msgs = slices.DeleteFunc(msgs, func(m *jetstream.RawStreamMsg) bool {
		if m.Subject == finalize {
			events = append(events, m)
			return true
		}
		return false
	})
	check(t, msgs, func(i int) bool { return i != 20 }, n)
	if len(events) != 1 {
		t.Fatalf("%d failure events, want 1", len(events))
	}
	var ev bus.FailureEvent
	if err := json.Unmarshal(events[0].Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != bus.FailureType || ev.Payload.MsgID != "msg-20" || ev.Payload.Class != "permanent" ||
		ev.Payload.Subject != ingress || !ev.Payload.Truncated || ev.CorrelationID != "msg-20" ||
		events[0].Header.Get(natsbus.HeaderMsgID) != "failed-msg-20" {
		t.Errorf("failure event = %+v, headers %v", ev, events[0].Header)
	}
}

// blkFiles lists the store's message block files, oldest first.
func blkFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "jetstream", "*", "streams", outbox.Stream, "msgs", "*.blk"))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(files, func(a, b string) int {
		na, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(a), ".blk"))
		nb, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(b), ".blk"))
		return na - nb
	})
	return files
}

// TestTornWrite: the last block of the store is cut short while stopped (a
// machine crash mid-write); the outbox opens, reports what the store lost,
// and forwards the rest.
func TestTornWrite(t *testing.T) {
	r := startRemote(t)
	r.stop()
	dir := t.TempDir()
	ob := openOutbox(t, outbox.Options{Dir: dir, Remote: natsRemote(t, r.url())})
	p := newPublisher(ob, bus.Options{})
	const n = 100
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		if err := p.Publish(context.Background(), message(i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 { // records of about ten messages
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	closePublisher(t, p) // closes the outbox: the store is on disk
	files := blkFiles(t, dir)
	if len(files) == 0 {
		t.Fatal("no block file in the store")
	}
	last := files[len(files)-1]
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, fi.Size()-1500); err != nil {
		t.Fatal(err)
	}

	r.start()
	ob = openOutbox(t, outbox.Options{Dir: dir, Remote: natsRemote(t, r.url())})
	st := ob.Stats()
	if st.RecoveryLostRecords != 1 || st.RecoveryLostBytes == 0 {
		t.Errorf("RecoveryLostRecords = %d (%d bytes), want 1 (1500 bytes cut from a record of ~11 KB)", st.RecoveryLostRecords, st.RecoveryLostBytes)
	}
	if st.Recovered >= n || st.Recovered < n-20 {
		t.Errorf("recovered %d messages of %d, want all but the last record's", st.Recovered, n)
	}
	if err := ob.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	ob.Close()
	kept := int(st.Recovered)
	msgs := readStream(t, r.url())
	check(t, msgs, func(i int) bool { return i < kept }, n)
	if len(msgs) != kept {
		t.Errorf("remote holds %d, want %d", len(msgs), kept)
	}
	t.Logf("%d stored; after the cut %d record lost (%d bytes), %d messages recovered and forwarded", n, st.RecoveryLostRecords, st.RecoveryLostBytes, len(msgs))
}

// Crash: a child process (this test binary) stores messages into an outbox
// while the remote goes down, and is killed with SIGKILL; the outbox is
// reopened on its directory and delivers everything the child had stored,
// each message once.

const childEnv = "OUTBOX_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	// Every goroutine of the outbox, its store and the test servers ends.
	// (opencensus starts a worker at init, through the Pub/Sub client.)
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// child publishes messages until killed, printing "stored N" each time the
// first N are in the store.
func child() int {
	url, dir := os.Getenv("OUTBOX_TEST_URL"), os.Getenv("OUTBOX_TEST_DIR")
	d, err := natsbus.New(context.Background(), natsbus.Options{URL: url, Logger: quiet, ReconnectBufSize: -1,
		ReconnectWait: 50 * time.Millisecond, ReconnectJitter: time.Millisecond})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	ob, err := outbox.Open(context.Background(), outbox.Options{Dir: dir, Remote: d, Logger: quiet, Prefix: "test.",
		RetryBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	p := bus.New(ob, bus.Options{Logger: quiet, Prefix: "test."})
	for i := 0; i < 1_000_000; i++ {
		if err := p.Publish(context.Background(), message(i)); err != nil {
			fmt.Println("error", err)
			return 1
		}
		if i%100 == 99 {
			if err := p.Flush(context.Background()); err != nil {
				fmt.Println("error", err)
				return 1
			}
			fmt.Printf("stored %d forwarded %d\n", i+1, ob.Stats().Forwarded)
		}
	}
	return 0
}

func TestCrash(t *testing.T) {
	r := startRemote(t)
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "OUTBOX_TEST_URL="+r.url(), "OUTBOX_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	timeout := time.AfterFunc(120*time.Second, func() { cmd.Process.Kill() })
	defer timeout.Stop()
	sc := bufio.NewScanner(out)
	stored, forwarded, down := 0, 0, false
	for sc.Scan() {
		line := sc.Text()
		if _, err := fmt.Sscanf(line, "stored %d forwarded %d", &stored, &forwarded); err != nil {
			t.Fatalf("child: %s", line)
		}
		if !down && forwarded >= 2000 {
			r.stop() // the outage: the child keeps storing
			down = true
		}
		if down && stored >= forwarded+5000 {
			break
		}
	}
	if !down || stored < forwarded+5000 {
		t.Fatalf("child ended early: stored %d forwarded %d (%v)", stored, forwarded, sc.Err())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killed = true
	t.Logf("child killed with %d stored, %d forwarded", stored, forwarded)

	r.start()
	ob := openOutbox(t, outbox.Options{Dir: dir, Remote: natsRemote(t, r.url())})
	if st := ob.Stats(); st.Recovered < uint64(stored-forwarded) {
		t.Errorf("recovered %d messages, the child had stored %d and forwarded %d", st.Recovered, stored, forwarded)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := ob.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	ob.Close()
	msgs := readStream(t, r.url())
	check(t, msgs, func(i int) bool { return i < stored }, stored)
	t.Logf("after the restart: %d recovered from the store, %d on the remote stream, each once", ob.Stats().Recovered, len(msgs))
}

func fmtSscanf(id string, i *int) (int, error) { return fmt.Sscanf(id, "msg-%d", i) }
