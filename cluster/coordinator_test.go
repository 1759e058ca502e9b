package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/internal/natstest"
	"github.com/ingress-egress/ingress-egress/test/harness"
)

// fakeReader stands for the Twitch connection manager: a channel added is
// joined (confirmed) after delay; every JOIN is recorded in the world's
// log.
type fakeReader struct {
	w     *world
	id    string
	delay time.Duration

	mu      sync.Mutex
	stopped bool
	joined  map[string]bool      // true once confirmed
	pending map[string]time.Time // when the JOIN confirms
}

func (r *fakeReader) AddChannels(ctx context.Context, logins ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errors.New("fake reader stopped")
	}
	now := time.Now()
	for _, ch := range logins {
		if _, ok := r.joined[ch]; ok {
			continue
		}
		r.joined[ch] = false
		r.pending[ch] = now.Add(r.delay)
		r.w.recordJoin(r.id, ch, now)
	}
	return nil
}

func (r *fakeReader) RemoveChannels(ctx context.Context, logins ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range logins {
		delete(r.joined, ch)
		delete(r.pending, ch)
	}
	return nil
}

func (r *fakeReader) Channels() (joined, failed []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for ch, at := range r.pending {
		if !now.Before(at) {
			r.joined[ch] = true
			delete(r.pending, ch)
		}
	}
	for ch, ok := range r.joined {
		if ok {
			joined = append(joined, ch)
		}
	}
	return joined, nil
}

// has reports whether the reader has ch joined now.
func (r *fakeReader) has(ch string) bool {
	r.Channels()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.joined[ch]
}

// stop is the reader's process ending: every channel is gone at once.
func (r *fakeReader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	clear(r.joined)
	clear(r.pending)
}

type joinEvent struct {
	at       time.Time
	instance string
	channel  string
}

// world is a set of coordinators with fake readers on one NATS cluster,
// and a monitor that checks, every few milliseconds, that every channel
// that has been read once is read by at least one running reader.
type world struct {
	t        *testing.T
	nats     *natstest.Cluster
	opts     Options
	channels []string

	mu         sync.Mutex
	nodes      map[string]*node
	joins      []joinEvent
	covered    map[string]bool // channels read at least once
	violations []string
}

type node struct {
	id     string
	c      *Coordinator
	r      *fakeReader
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
	alive  atomic.Bool
}

func newWorld(t *testing.T, nc *natstest.Cluster, opts Options, channels []string) *world {
	w := &world{t: t, nats: nc, opts: opts, channels: channels, nodes: map[string]*node{}, covered: map[string]bool{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				w.checkCoverage()
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		w.mu.Lock()
		nodes := slices.Collect(mapValues(w.nodes))
		w.mu.Unlock()
		for _, n := range nodes {
			n.kill()
		}
	})
	return w
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

func (w *world) recordJoin(id, ch string, at time.Time) {
	w.mu.Lock()
	w.joins = append(w.joins, joinEvent{at, id, ch})
	w.mu.Unlock()
}

// checkCoverage records a violation for every channel read once and read
// by no running reader now. Readers are read one after the other: a
// channel joined by its new reader before the old one parts it is seen in
// one of them whatever the interleaving.
func (w *world) checkCoverage() {
	w.mu.Lock()
	var readers []*fakeReader
	for _, n := range w.nodes {
		if n.alive.Load() {
			readers = append(readers, n.r)
		}
	}
	w.mu.Unlock()
	for _, ch := range w.channels {
		read := false
		for _, r := range readers {
			if r.has(ch) {
				read = true
				break
			}
		}
		w.mu.Lock()
		switch {
		case read:
			w.covered[ch] = true
		case w.covered[ch]:
			w.violations = append(w.violations, fmt.Sprintf("%s read by nobody at %s", ch, time.Now().Format("15:04:05.000")))
			w.covered[ch] = false // one violation per gap
		}
		w.mu.Unlock()
	}
}

func (w *world) noViolations() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		w.t.Fatalf("%d channels had a moment with no reader: %v", len(w.violations), w.violations[:min(10, len(w.violations))])
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// start starts a coordinator with id on its own NATS connection.
func (w *world) start(id string, mod ...func(*Options)) *node {
	w.t.Helper()
	return w.startConn(id, w.nats.Connect(), mod...)
}

// kill ends the node as a crash does: no Leave, the reader and the NATS
// connection gone at once.
func (n *node) kill() {
	if !n.alive.Swap(false) {
		return
	}
	n.r.stop()
	n.cancel()
	<-n.done
	n.nc.Close()
}

// leave shuts the node down gracefully: Leave within d, then the reader
// stops.
func (n *node) leave(t *testing.T, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := n.c.Leave(ctx)
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: Run did not return after Leave", n.id)
	}
	n.alive.Store(false)
	n.r.stop()
	n.cancel()
	n.nc.Close()
	return err
}

func (w *world) alive() []*node {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*node
	for _, n := range w.nodes {
		if n.alive.Load() {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// readers returns, for each channel, the ids of the running readers that
// have it joined.
func (w *world) readers() map[string][]string {
	out := map[string][]string{}
	for _, n := range w.alive() {
		for _, ch := range w.channels {
			if n.r.has(ch) {
				out[ch] = append(out[ch], n.id)
			}
		}
	}
	return out
}

// waitStable waits until every channel in want is read by exactly its
// owners among the running nodes, every node is ready and reports no
// uncovered channel, and returns who reads what.
func (w *world) waitStable(want []string, d time.Duration) map[string][]string {
	w.t.Helper()
	deadline := time.Now().Add(d)
	var why string
	for {
		ok := true
		alive := w.alive()
		var ids []string
		for _, n := range alive {
			ids = append(ids, n.id)
		}
		got := w.readers()
		for _, ch := range w.channels {
			exp := []string{}
			if slices.Contains(want, ch) {
				exp = sorted(Owners(ch, ids, w.opts.Replicas))
			}
			if g := sorted(got[ch]); !slices.Equal(g, exp) && !(len(g) == 0 && len(exp) == 0) {
				ok, why = false, fmt.Sprintf("%s read by %v, want %v", ch, g, exp)
				break
			}
		}
		if ok {
			for _, n := range alive {
				s := n.c.Stats()
				if !n.c.Ready() || s.Uncovered != 0 || s.Members != len(alive) || s.Reading != s.Owned {
					ok, why = false, fmt.Sprintf("%s: ready %v, stats %+v", n.id, n.c.Ready(), s)
					break
				}
			}
		}
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("not stable after %v: %s", d, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func moved(a, b map[string][]string) int {
	n := 0
	for ch := range mergeKeys(a, b) {
		if !slices.Equal(sorted(a[ch]), sorted(b[ch])) {
			n++
		}
	}
	return n
}

func mergeKeys(a, b map[string][]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func testChannels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ch%03d", i)
	}
	return out
}

// TestCoordinatorMembership runs three coordinators with two replicas,
// adds a fourth, then lets one leave: at every step each channel is read
// by exactly its owners, and no channel is ever read by nobody.
func TestCoordinatorMembership(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	chans := testChannels(60)
	w := newWorld(t, nc, Options{Replicas: 2, LeaseTTL: 2 * time.Second, Seed: chans}, chans)
	for _, id := range []string{"a", "b", "c"} {
		w.start(id)
	}
	s3 := w.waitStable(chans, 30*time.Second)

	w.start("d")
	s4 := w.waitStable(chans, 30*time.Second)
	m := moved(s3, s4)
	t.Logf("3 → 4 members: %d of %d channels changed owners (rendezvous expects about half with 2 replicas)", m, len(chans))
	if m == 0 || m == len(chans) {
		t.Errorf("3 → 4 members moved %d of %d channels", m, len(chans))
	}

	var b *node
	for _, n := range w.alive() {
		if n.id == "b" {
			b = n
		}
	}
	before := w.readers()
	if err := b.leave(t, 20*time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	// Leave returned: the channels b read are confirmed by their new
	// owners already, before its reader stopped.
	after := w.readers()
	for ch, rs := range before {
		if slices.Contains(rs, "b") && len(after[ch]) < 2 {
			t.Errorf("%s: read by %v after b left, want 2 readers at once", ch, after[ch])
		}
	}
	s3b := w.waitStable(chans, 30*time.Second)
	t.Logf("4 → 3 members (graceful): %d of %d channels changed owners", moved(s4, s3b), len(chans))
	w.noViolations()

	// Handovers were counted by the instances that parted.
	var handovers uint64
	for _, n := range w.alive() {
		handovers += n.c.Stats().Handovers
	}
	if handovers == 0 {
		t.Errorf("no handover counted after a member joined")
	}
}

// TestCoordinatorCrash kills one of three instances (no Leave: its
// heartbeats stop and its reader is gone): the others take its channels
// once its lease has expired, and with two replicas no channel is ever
// read by nobody.
func TestCoordinatorCrash(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	chans := testChannels(60)
	w := newWorld(t, nc, Options{Replicas: 2, LeaseTTL: 2 * time.Second, Seed: chans}, chans)
	nodes := []*node{w.start("a"), w.start("b"), w.start("c")}
	w.waitStable(chans, 30*time.Second)

	killed := time.Now()
	nodes[1].kill()
	w.waitStable(chans, 30*time.Second)
	t.Logf("replicas 2: every channel has two confirmed readers again %v after the crash (lease TTL 2 s)", time.Since(killed).Round(10*time.Millisecond))
	w.noViolations()
	for _, n := range w.alive() {
		if s := n.c.Stats(); s.Gaps != 0 {
			t.Errorf("%s: %d gaps counted with two replicas, want 0", n.id, s.Gaps)
		}
	}
}

// TestCoordinatorGracefulOneReplica lets an instance leave when each
// channel has one reader only: make-before-break hands every channel over
// before the reader stops, so none is ever read by nobody.
func TestCoordinatorGracefulOneReplica(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	chans := testChannels(40)
	w := newWorld(t, nc, Options{Replicas: 1, LeaseTTL: 2 * time.Second, Seed: chans}, chans)
	nodes := []*node{w.start("a"), w.start("b"), w.start("c")}
	w.waitStable(chans, 30*time.Second)
	if err := nodes[0].leave(t, 20*time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	w.waitStable(chans, 30*time.Second)
	w.noViolations()
	// The last one leaving has nobody to hand over to: Leave returns at
	// once rather than waiting for its deadline.
	if err := nodes[1].leave(t, 20*time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	start := time.Now()
	if err := nodes[2].leave(t, time.Minute); err != nil {
		t.Fatalf("Leave of the last member: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the last member took %v to leave: it waited for nobody", d)
	}
}

// TestCoordinatorCrashOneReplica: with one replica a crash leaves the
// crashed instance's channels unread until its lease expires and another
// joins them; the gaps are counted and bounded by about the lease TTL plus
// the time to join.
func TestCoordinatorCrashOneReplica(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	chans := testChannels(40)
	w := newWorld(t, nc, Options{Replicas: 1, LeaseTTL: 2 * time.Second, Seed: chans}, chans)
	nodes := []*node{w.start("a"), w.start("b"), w.start("c")}
	w.waitStable(chans, 30*time.Second)
	lost := 0
	for _, ch := range chans {
		if nodes[2].r.has(ch) {
			lost++
		}
	}
	nodes[2].kill()
	w.waitStable(chans, 30*time.Second)
	var st Stats
	for _, n := range w.alive() {
		st = n.c.Stats()
		// A busy machine can make a live instance miss a heartbeat too,
		// which counts more gaps; never fewer.
		if st.Gaps < uint64(lost) {
			t.Errorf("%s: %d gaps counted, want at least %d (the channels of the crashed instance)", n.id, st.Gaps, lost)
		}
	}
	t.Logf("replicas 1, crash of an instance reading %d channels: %d gaps, longest %.2f s, mean %.2f s (lease TTL 2 s)",
		lost, st.Gaps, st.MaxGapSeconds, st.GapSeconds/float64(max(st.Gaps, 1)))
	if st.MaxGapSeconds <= 0 {
		t.Errorf("no gap length measured: %+v", st)
	}
}

// TestCoordinatorAdmin adds and removes channels through a coordinator:
// every instance follows the bucket, and a channel removed stays removed
// when an instance starts with it in its seed.
func TestCoordinatorAdmin(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	chans := testChannels(12)
	w := newWorld(t, nc, Options{Replicas: 2, LeaseTTL: 2 * time.Second, Seed: chans[:6]}, chans)
	a := w.start("a")
	w.start("b")
	w.waitStable(chans[:6], 30*time.Second)

	ctx := context.Background()
	if err := a.c.AddChannels(ctx, "#CH006", "ch007"); err != nil {
		t.Fatal(err)
	}
	if err := a.c.AddChannels(ctx, "ok", "not a channel"); !errors.Is(err, ErrInvalidChannel) {
		t.Fatalf("AddChannels with a bad login = %v, want ErrInvalidChannel", err)
	}
	w.waitStable(chans[:8], 30*time.Second)
	if err := a.c.RemoveChannels(ctx, "ch000"); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(chans[1:8])
	w.waitStable(want, 30*time.Second)
	// A new instance seeded with every channel adds those never seen
	// (ch008..ch011) but not ch000, which was removed.
	w.start("c", func(o *Options) { o.Seed = slices.Clone(chans) })
	w.waitStable(append(want, chans[8:]...), 30*time.Second)
}

// TestCoordinatorKVLeaderKilled kills the NATS node that leads the
// members bucket: the coordinators carry on (the buckets have three
// replicas), and a channel added afterwards is read by its owners.
func TestCoordinatorKVLeaderKilled(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	chans := testChannels(30)
	w := newWorld(t, nc, Options{Replicas: 2, LeaseTTL: 5 * time.Second, Seed: chans[:25]}, chans)
	a := w.start("a")
	w.start("b")
	w.start("c")
	w.waitStable(chans[:25], 30*time.Second)
	leader := nc.StreamLeader("KV_ingress_members")
	if leader < 0 {
		t.Fatal("no leader for the members bucket")
	}
	t.Logf("killing nats node %d, leader of the members bucket", leader+1)
	start := time.Now()
	nc.Stop(leader)
	t.Logf("node stopped in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err := a.c.AddChannels(ctx, chans[25:]...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("AddChannels after the leader died: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("channels added through the bucket %v after the kill", time.Since(start).Round(time.Millisecond))
	w.waitStable(chans, 60*time.Second)
	t.Logf("stable %v after the kill", time.Since(start).Round(time.Millisecond))
	w.noViolations()
}

// TestCoordinatorCutOff cuts one instance off from NATS (its connection
// goes through a proxy that drops it and refuses new ones): its lease
// expires and the others take its channels, while it keeps reading them
// (it cannot know they did); when it is back it owns its channels again
// and the others part them once it has confirmed them under its new epoch.
func TestCoordinatorCutOff(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	chans := testChannels(30)
	w := newWorld(t, nc, Options{Replicas: 1, LeaseTTL: 2 * time.Second, Seed: chans}, chans)
	w.start("a")
	w.start("b")
	target := strings.TrimPrefix(nc.NodeURL(0), "nats://")
	p := harness.StartFaultProxy(t, target)
	cut := w.startVia("c", "nats://"+p.Addr())
	w.waitStable(chans, 30*time.Second)
	var mine []string
	for _, ch := range chans {
		if cut.r.has(ch) {
			mine = append(mine, ch)
		}
	}
	if len(mine) == 0 {
		t.Fatal("c reads no channel")
	}
	p.Down()
	// The others read c's channels, and c still does.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs := w.readers()
		done := true
		for _, ch := range mine {
			if len(rs[ch]) != 2 || !slices.Contains(rs[ch], "c") {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c's channels not taken over by the others, or not read by c any more: %v", rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := cut.c.Stats(); s.LeaseValid || s.Reading < len(mine) || cut.c.Ready() {
		t.Errorf("c while cut off: %+v, ready %v; want an expired lease, its %d channels still read, not ready", s, cut.c.Ready(), len(mine))
	}
	p.Up(target)
	w.waitStable(chans, 30*time.Second)
	for _, ch := range mine {
		if rs := w.readers()[ch]; !slices.Equal(rs, []string{"c"}) {
			t.Errorf("%s read by %v after c came back, want c alone", ch, rs)
		}
	}
	w.noViolations()
}

// startVia starts a coordinator whose NATS connection goes to url only.
func (w *world) startVia(id, url string) *node {
	w.t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.PingInterval(500*time.Millisecond), nats.MaxPingsOutstanding(2), nats.IgnoreDiscoveredServers(), nats.ReconnectBufSize(-1))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(nc.Close)
	return w.startConn(id, nc)
}

// startConn starts a coordinator with id on nc.
func (w *world) startConn(id string, nc *nats.Conn, mod ...func(*Options)) *node {
	w.t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		w.t.Fatal(err)
	}
	o := w.opts
	o.Instance = id
	o.Seed = slices.Clone(w.opts.Seed)
	o.Logger = testLogger(w.t).With("node", id)
	for _, f := range mod {
		f(&o)
	}
	r := &fakeReader{w: w, id: id, delay: 50 * time.Millisecond, joined: map[string]bool{}, pending: map[string]time.Time{}}
	c, err := New(js, r, o)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{id: id, c: c, r: r, nc: nc, cancel: cancel, done: make(chan error, 1)}
	n.alive.Store(true)
	go func() { n.done <- c.Run(ctx) }()
	w.mu.Lock()
	w.nodes[id] = n
	w.mu.Unlock()
	return n
}

// maxInWindow returns the most events in any interval of length d.
func maxInWindow(ts []time.Time, d time.Duration) int {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= d {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// TestCoordinatorJoinBudget runs three instances logged in as one account
// with a budget of 20 JOINs per 2 s (scaled down from Twitch's 10 s): the
// JOINs their readers send, counted together, never exceed 20 in any 2 s,
// while the instances start, share 100 channels and one crashes.
func TestCoordinatorJoinBudget(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	chans := testChannels(100)
	const rate, window = 20, 2 * time.Second
	w := newWorld(t, nc, Options{
		Replicas: 1, LeaseTTL: 2 * time.Second, Seed: chans,
		Account: "bot", JoinRate: rate, JoinWindow: window,
		// Room for a JOIN's recorded time and its sending to differ by a
		// busy test machine's scheduling delay (the race detector, other
		// tests): a second.
		JoinMargin: window / 2,
	}, chans)
	nodes := []*node{w.start("a"), w.start("b"), w.start("c")}
	w.waitStable(chans, 60*time.Second)
	nodes[0].kill()
	w.waitStable(chans, 60*time.Second)

	w.mu.Lock()
	var ts []time.Time
	for _, j := range w.joins {
		ts = append(ts, j.at)
	}
	w.mu.Unlock()
	var waits uint64
	for _, n := range nodes {
		if s := n.c.Stats(); s.Budget != nil {
			waits += s.Budget.Waits
		}
	}
	got := maxInWindow(ts, window)
	t.Logf("%d JOINs by 3 instances on one account; at most %d in any %v (budget %d); %d waits for the window", len(ts), got, window, rate, waits)
	if got > rate {
		t.Errorf("%d JOINs in one window, budget %d", got, rate)
	}
	if len(ts) < len(chans) || waits == 0 {
		t.Errorf("%d JOINs, %d waits: the budget was never the limit, the test proves nothing", len(ts), waits)
	}
}
