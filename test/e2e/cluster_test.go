package e2e

// End-to-end tests of CLUSTER=nats: service processes sharing channels
// through a three-node NATS cluster of nats-server processes, the fake
// Twitch server, and the stream read back at the end.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// clusterTurns lets two cluster scenarios run at a time (beside the other
// end-to-end tests): each is three NATS nodes and up to five instances
// under 2,000 lines/s, and all seven at once on a 2-core machine starve
// the instances' heartbeats of CPU.
var clusterTurns = make(chan struct{}, 2)

// clusterTurn waits for the turn of the calling test, given back when it
// ends.
func clusterTurn(t *testing.T) {
	t.Helper()
	clusterTurns <- struct{}{}
	t.Cleanup(func() { <-clusterTurns })
}

// clusterBed is a NATS cluster with the INGRESS stream on three replicas,
// the fake Twitch server, and the environment of a service instance.
type clusterBed struct {
	t        *testing.T
	nats     *natsNodes
	fake     *twitchtest.Server
	channels []string
	env      map[string]string
}

func newClusterBed(t *testing.T, nchannels int, twitchCfg twitchtest.Config, env map[string]string) *clusterBed {
	t.Helper()
	nc := startNATSNodes(t, 3)
	js, err := jetstream.New(nc.Connect())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "INGRESS", Subjects: []string{"internal.ingress.v1", "internal.finalize.v1"},
		Duplicates: 2 * time.Minute, Replicas: 3,
	}); err != nil {
		t.Fatal(err)
	}
	fake, url := harness.StartFakeTwitch(t, twitchCfg, "tcp")
	b := &clusterBed{t: t, nats: nc, fake: fake}
	for i := range nchannels {
		b.channels = append(b.channels, fmt.Sprintf("chan%03d", i))
	}
	b.env = map[string]string{
		"TWITCH_IRC_URL":     url,
		"TWITCH_CHANNELS":    strings.Join(b.channels, ","),
		"PORT":               "0",
		"MESSAGE_BUS_DRIVER": "nats",
		"NATS_URL":           nc.URL(),
		"CLUSTER":            "nats",
		"CLUSTER_LEASE_TTL":  "2s",
		// An anonymous connection joins its 10 channels in one burst, and
		// as many again in the same window (20 JOINs per 10 s per
		// connection) when it takes channels over; the connections open
		// fast.
		"TWITCH_CHANNELS_PER_CONN": "10",
		"TWITCH_CONNECT_RATE":      "50",
		"IRC_RECONNECT_INITIAL_MS": "100",
		"IRC_RECONNECT_MAX_MS":     "500",
		"SHUTDOWN_TIMEOUT":         "20s",
	}
	for k, v := range env {
		b.env[k] = v
	}
	return b
}

// instance is one service process of the cluster.
type instance struct {
	id   string
	p    *harness.Proc
	base string
}

// start starts an instance named id and waits for its HTTP server; extra
// overrides the bed's environment.
func (b *clusterBed) start(id string, extra ...string) *instance {
	b.t.Helper()
	env := map[string]string{"CLUSTER_INSTANCE_ID": id}
	for k, v := range b.env {
		env[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	p := harness.Start(b.t, env)
	return &instance{id: id, p: p, base: p.HTTPBase()}
}

// waitReady waits until /readyz answers 200: the channels the instance owns
// are joined.
func (in *instance) waitReady(t *testing.T, d time.Duration) {
	t.Helper()
	harness.WaitFor(t, d, 20*time.Millisecond, in.id+" ready", func() (bool, string) {
		code, body := harness.Readyz(t, in.base)
		return code == http.StatusOK, strconv.Itoa(code) + " " + body
	})
}

// readers returns how many of the fake server's clients have each channel
// joined.
func (b *clusterBed) readers() map[string]int {
	out := map[string]int{}
	for _, c := range b.fake.Clients() {
		if c.Closed() {
			continue
		}
		for _, ch := range c.Channels() {
			out[ch]++
		}
	}
	return out
}

// waitReaders waits until every channel has exactly n readers and returns
// how long that took.
func (b *clusterBed) waitReaders(n int, d time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	harness.WaitFor(b.t, d, 10*time.Millisecond, fmt.Sprintf("every channel read by %d instances", n), func() (bool, string) {
		rs := b.readers()
		for _, ch := range b.channels {
			if rs[ch] != n {
				return false, fmt.Sprintf("%s read %d times", ch, rs[ch])
			}
		}
		return true, ""
	})
	return time.Since(start)
}

// waitDropped waits until one of chs has fewer than n readers: the fake
// server has seen the connections of a killed instance close (until then
// it still counts them as readers).
func (b *clusterBed) waitDropped(chs map[string]bool, n int) {
	b.t.Helper()
	harness.WaitFor(b.t, 30*time.Second, 5*time.Millisecond, "the killed instance's connections closed", func() (bool, string) {
		rs := b.readers()
		for ch := range chs {
			if rs[ch] < n {
				return true, ""
			}
		}
		return false, "every channel still has its readers"
	})
}

// Every scenario reads clusterChannels channels under clusterRate lines per
// second of load, for a few seconds around each fault.
const (
	clusterChannels = 300
	clusterRate     = 2000
)

// load generates PRIVMSGs over every channel at rate while it runs; it can
// be started and stopped again, and keeps what every run sent.
type load struct {
	b      *clusterBed
	rate   float64
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	sent   map[string]harness.Sent
	sentAt map[string]time.Time
	unread map[string]time.Time // messages no client got, and when
}

// newLoad returns a load at rate, not started.
func (b *clusterBed) newLoad(rate float64) *load {
	l := &load{b: b, rate: rate, sent: map[string]harness.Sent{}, sentAt: map[string]time.Time{}, unread: map[string]time.Time{}}
	b.t.Cleanup(l.stop)
	return l
}

// startLoad starts a load at rate.
func (b *clusterBed) startLoad(rate float64) *load {
	l := b.newLoad(rate)
	l.start()
	return l
}

// start runs the load again after a stop.
func (l *load) start() {
	if l.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	chans := l.b.channels
	n := 0
	go func() {
		defer close(l.done)
		l.b.fake.Generate(ctx, twitchtest.Gen{
			Channels: chans,
			Rate:     l.rate,
			OnSent: func(id string, clients int) {
				l.mu.Lock()
				now := time.Now()
				l.sent[id] = harness.Sent{Channel: chans[n%len(chans)], N: n}
				l.sentAt[id] = now
				if clients == 0 {
					l.unread[id] = now
				}
				l.mu.Unlock()
				n++
			},
		})
	}()
}

// stop ends the load's run; it may start again.
func (l *load) stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	<-l.done
	l.cancel = nil
}

// around runs the load from lead before f until trail after it.
func (l *load) around(lead, trail time.Duration, f func()) {
	l.start()
	time.Sleep(lead)
	f()
	time.Sleep(trail)
	l.stop()
}

// settle waits until the instances' publishers hold nothing.
func settle(t *testing.T, ins ...*instance) {
	t.Helper()
	for _, in := range ins {
		harness.WaitFor(t, 30*time.Second, 20*time.Millisecond, in.id+" publisher settled", func() (bool, string) {
			d := harness.Debug(t, in.base, "")
			return d.Bus.Pending == 0 && d.Bus.Accepted == d.Bus.Acked, fmt.Sprintf("%+v", d.Bus)
		})
	}
}

// stopGracefully sends SIGTERM and checks the instance handed its channels
// over and exited 0; it returns how long the instance took to exit.
func (in *instance) stopGracefully(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("%s stopped %v after SIGTERM", in.id, time.Since(start).Round(10*time.Millisecond)) }()
	in.p.Signal(syscall.SIGTERM)
	code, ok := in.p.Wait(30 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("%s after SIGTERM: exited %v, code %d", in.id, ok, code)
	}
	if len(in.p.FindLogs("left the cluster")) != 1 {
		t.Errorf("%s: no \"left the cluster\" record", in.id)
	}
	if recs := in.p.FindLogs("shutdown deadline before every channel was handed over"); len(recs) > 0 {
		t.Errorf("%s: handover incomplete at shutdown: %v", in.id, recs)
	}
	return time.Since(start)
}

// TestE2EClusterCrashAndRollingRestart runs three instances with two
// replicas, 300 channels and 2,000 lines/s of load around each fault: one
// is killed with SIGKILL, then the other two are replaced one at a time (a
// new instance, ready, then SIGTERM to an old one), and the stream holds
// every message exactly once.
func TestE2EClusterCrashAndRollingRestart(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	clusterTurn(t)
	b := newClusterBed(t, clusterChannels, twitchtest.Config{}, map[string]string{"CLUSTER_REPLICAS": "2"})
	ins := []*instance{b.start("i1"), b.start("i2"), b.start("i3")}
	for _, in := range ins {
		in.waitReady(t, 60*time.Second)
	}
	b.waitReaders(2, 60*time.Second)
	l := b.newLoad(clusterRate)

	// A crash: the two other instances take the channels over; with two
	// replicas every channel keeps a reader meanwhile.
	var recovered time.Duration
	l.around(500*time.Millisecond, 500*time.Millisecond, func() {
		victim := joinedChannels(t, ins[1])
		killed := time.Now()
		ins[1].p.Signal(syscall.SIGKILL)
		ins[1].p.Wait(10 * time.Second)
		b.waitDropped(victim, 2)
		b.waitReaders(2, 60*time.Second)
		recovered = time.Since(killed)
	})
	t.Logf("SIGKILL of one of 3 instances (replicas 2, lease TTL 2 s, %d channels, %d lines/s): every channel has 2 readers again %v after the kill",
		clusterChannels, clusterRate, recovered.Round(10*time.Millisecond))

	// A rolling restart: a new instance, ready, then the old one leaves.
	alive := []*instance{ins[0], ins[2]}
	for i, old := range []*instance{ins[0], ins[2]} {
		nw := b.start(fmt.Sprintf("n%d", i+1))
		nw.waitReady(t, 60*time.Second)
		l.around(500*time.Millisecond, 500*time.Millisecond, func() {
			old.stopGracefully(t)
			alive = slices.DeleteFunc(alive, func(x *instance) bool { return x == old })
			alive = append(alive, nw)
			b.waitReaders(2, 60*time.Second)
		})
	}
	settle(t, alive...)

	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.unread) > 0 {
		t.Errorf("%d of %d messages reached no reader", len(l.unread), len(l.sent))
	}
	msgs := readClusterStream(t, b.nats)
	harness.CheckEnvelopes(t, msgs, l.sent)
	t.Logf("%d messages sent over %d channels during a crash and a rolling restart: %d on the stream", len(l.sent), len(b.channels), len(msgs))
	for _, in := range alive {
		fams := harness.Metrics(t, in.base)
		if got := harness.Metric(t, fams, "ingress_cluster_channels_uncovered", ""); got != 0 {
			t.Errorf("%s: ingress_cluster_channels_uncovered %v, want 0", in.id, got)
		}
		if got := harness.Metric(t, fams, "ingress_cluster_members", ""); got != 2 {
			t.Errorf("%s: ingress_cluster_members %v, want 2", in.id, got)
		}
	}
}

// TestE2EClusterOneReplicaCrash kills one of two instances with one replica
// under load. What is lost is confined to the killed instance's channels
// and to a window from just before the kill (what it had read and not yet
// published) until the survivor has joined them (about the lease TTL plus
// the time to join); the survivor's metrics report that gap; everything
// else is on the stream exactly once.
func TestE2EClusterOneReplicaCrash(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	clusterTurn(t)
	b := newClusterBed(t, clusterChannels, twitchtest.Config{}, map[string]string{"CLUSTER_REPLICAS": "1"})
	ins := []*instance{b.start("i1"), b.start("i2")}
	for _, in := range ins {
		in.waitReady(t, 60*time.Second)
	}
	b.waitReaders(1, 60*time.Second)
	victim := joinedChannels(t, ins[1])
	if len(victim) == 0 {
		t.Fatal("i2 reads no channel")
	}
	l := b.startLoad(clusterRate)
	time.Sleep(500 * time.Millisecond)
	// What the victim had read but not published when it died is lost
	// too: the window opens a little before the kill.
	const inFlight = time.Second
	killed := time.Now()
	ins[1].p.Signal(syscall.SIGKILL)
	ins[1].p.Wait(10 * time.Second)
	b.waitDropped(victim, 1)
	// The survivor closes a gap per channel once it has joined it.
	harness.WaitFor(t, 60*time.Second, 20*time.Millisecond, "the survivor's gaps closed", func() (bool, string) {
		g := harness.Metric(t, harness.Metrics(t, ins[0].base), "ingress_cluster_gaps_total", "")
		return g >= float64(len(victim)), fmt.Sprintf("%v gaps", g)
	})
	b.waitReaders(1, 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	l.stop()
	settle(t, ins[0])

	l.mu.Lock()
	defer l.mu.Unlock()
	msgs := readClusterStream(t, b.nats)
	present := map[string]bool{}
	for _, m := range msgs {
		present[m.MsgID] = true
	}
	var lastUnread time.Time
	for id, at := range l.unread {
		lastUnread = maxTime(lastUnread, at)
		if !victim[l.sent[id].Channel] || at.Before(killed) {
			t.Errorf("message %s in %s reached no reader %v after the kill: outside the victim's channels or before the kill", id, l.sent[id].Channel, at.Sub(killed))
		}
	}
	want := map[string]harness.Sent{}
	lost := 0
	for id, s := range l.sent {
		inWindow := victim[s.Channel] && !l.sentAt[id].Before(killed.Add(-inFlight)) && !l.sentAt[id].After(lastUnread)
		if !present[id] && inWindow {
			lost++
			continue
		}
		want[id] = s
	}
	harness.CheckEnvelopes(t, msgs, want)
	gap := lastUnread.Sub(killed)
	fams := harness.Metrics(t, ins[0].base)
	maxGap := harness.Metric(t, fams, "ingress_cluster_gap_max_seconds", "")
	gaps := harness.Metric(t, fams, "ingress_cluster_gaps_total", "")
	t.Logf("replicas 1, SIGKILL of the reader of %d of %d channels: %d messages lost, all in those channels, the last sent %v after the kill (lease TTL 2 s); the survivor reports %v gaps, the longest %.2f s (from the last heartbeat seen)",
		len(victim), len(b.channels), lost, gap.Round(10*time.Millisecond), gaps, maxGap)
	if lost == 0 || gaps != float64(len(victim)) || maxGap < gap.Seconds() {
		t.Errorf("gap not reported: %d lost over %v, metrics %v gaps for %d channels, longest %.2f s (counted from the last heartbeat, it cannot be shorter)",
			lost, gap, gaps, len(victim), maxGap)
	}
}

// joinedChannels returns the channels an instance has joined, from its
// /_debug/twitch.
func joinedChannels(t *testing.T, in *instance) map[string]bool {
	t.Helper()
	code, body := harness.HTTPGet(t, in.base+"/_debug/twitch", "")
	if code != http.StatusOK {
		t.Fatalf("/_debug/twitch: %d %s", code, body)
	}
	var d struct {
		Twitch struct {
			Connections []struct {
				Joined []string `json:"joined"`
			} `json:"connections"`
		} `json:"twitch"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, c := range d.Twitch.Connections {
		for _, ch := range c.Joined {
			out[ch] = true
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// TestE2EClusterJoinBudget runs three instances logged in as one account
// with 1,000 channels, Twitch's 20 JOINs per 10 s, and reconnects: the
// server sends RECONNECT to every connection (each instance joins its
// channels again on new connections), then drops every connection (they
// join again after reconnecting). Every JOIN, rejoins included, goes
// through the budget the instances share: the fake server, which counts
// the account's JOINs and closes a connection of a login that sends more
// than 20 in any 10 s, never has to, while the joins progress. Joining
// all 1,000 would take over eight minutes: the test watches a bounded
// window of about three budget windows.
func TestE2EClusterJoinBudget(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	// No load: it runs beside the other scenarios (clusterTurn).
	const token, login, rate, nchannels = "clustertoken", "clusterbot", 20, 1000
	b := newClusterBed(t, nchannels, twitchtest.Config{
		Tokens:      map[string]string{login: token},
		NoAnonymous: true,
		JoinLimit:   rate,
		JoinWindow:  10 * time.Second,
	}, map[string]string{
		"CLUSTER_REPLICAS":    "1",
		"TWITCH_OAUTH_TOKEN":  token,
		"TWITCH_BOT_USERNAME": login,
		"TWITCH_OAUTH_URL":    harness.FakeOAuth(t, token, login),
		"TWITCH_JOIN_RATE":    strconv.Itoa(rate),
		// Connections as an account share one JOIN budget: fewer, larger.
		"TWITCH_CHANNELS_PER_CONN": "90",
	})
	ins := []*instance{b.start("i1"), b.start("i2"), b.start("i3")}
	start := time.Now()
	joinedN := func() int {
		n := 0
		for _, c := range b.readers() {
			if c > 0 {
				n++
			}
		}
		return n
	}
	// The first window's JOINs.
	harness.WaitFor(t, 60*time.Second, 20*time.Millisecond, "a window of channels joined", func() (bool, string) {
		n := joinedN()
		return n >= rate, fmt.Sprintf("%d channels joined", n)
	})
	joinedBefore := joinedN()
	st := b.fake.Stats()
	j0, c0 := st.Joins, st.Connections
	if n := b.fake.Reconnect(); n == 0 {
		t.Fatal("no connection to send RECONNECT to")
	}
	// The instances join their channels again on new connections; the
	// old ones stay until then (make-before-break).
	harness.WaitFor(t, 60*time.Second, 20*time.Millisecond, "the channels joined again after RECONNECT", func() (bool, string) {
		st := b.fake.Stats()
		return st.Joins-j0 >= joinedBefore && st.Connections > c0, fmt.Sprintf("%d JOINs since, %d new connections", st.Joins-j0, st.Connections-c0)
	})
	st = b.fake.Stats()
	j1, c1 := st.Joins, st.Connections
	joinedBefore = joinedN()
	b.fake.CloseAll()
	harness.WaitFor(t, 60*time.Second, 20*time.Millisecond, "the channels joined again after every connection was dropped", func() (bool, string) {
		st := b.fake.Stats()
		return st.Joins-j1 >= joinedBefore && st.Connections > c1, fmt.Sprintf("%d JOINs since, %d new connections", st.Joins-j1, st.Connections-c1)
	})
	took := time.Since(start)
	st = b.fake.Stats()
	var waits, granted float64
	for _, in := range ins {
		fams := harness.Metrics(t, in.base)
		waits += harness.Metric(t, fams, "ingress_cluster_join_budget_waits_total", "")
		granted += harness.Metric(t, fams, "ingress_cluster_joins_granted_total", "")
	}
	t.Logf("3 instances, one account, %d channels, %d JOINs per 10 s, RECONNECT then every connection dropped: %d JOINs in %v, %d channels joined, %d connections, %v JOINs granted by the shared budget, %v waits; %d closed for the JOIN limit",
		nchannels, rate, st.Joins, took.Round(100*time.Millisecond), joinedN(), st.Connections, granted, waits, st.JoinKicks)
	if st.JoinKicks != 0 {
		t.Errorf("the fake server closed %d connections for exceeding %d JOINs per 10 s", st.JoinKicks, rate)
	}
	if granted < float64(st.Joins) {
		t.Errorf("the server saw %d JOINs, the shared budget granted %v: some JOINs bypassed it", st.Joins, granted)
	}
	if waits == 0 {
		t.Errorf("the shared budget never made a JOIN wait: the test proves nothing")
	}
}

// owners returns, for each channel, the instances that have it joined,
// from their /_debug/twitch.
func owners(t *testing.T, ins []*instance) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, in := range ins {
		for ch := range joinedChannels(t, in) {
			out[ch] = append(out[ch], in.id)
		}
	}
	return out
}

// movedPlaces counts the owner places that changed hands between two
// assignments.
func movedPlaces(before, after map[string][]string) int {
	n := 0
	for ch, as := range after {
		for _, a := range as {
			if !slices.Contains(before[ch], a) {
				n++
			}
		}
	}
	return n
}

// TestE2EClusterScale grows a cluster of three instances (two replicas) to
// five and shrinks it back to three under load: about 2/5 of the owner
// places move out and back, and the stream holds every message exactly
// once.
func TestE2EClusterScale(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	clusterTurn(t)
	b := newClusterBed(t, clusterChannels, twitchtest.Config{}, map[string]string{"CLUSTER_REPLICAS": "2"})
	ins := []*instance{b.start("i1"), b.start("i2"), b.start("i3")}
	for _, in := range ins {
		in.waitReady(t, 60*time.Second)
	}
	b.waitReaders(2, 60*time.Second)
	l := b.newLoad(clusterRate)
	before := owners(t, ins)

	var grown map[string][]string
	l.around(500*time.Millisecond, 500*time.Millisecond, func() {
		ins = append(ins, b.start("i4"), b.start("i5"))
		for _, in := range ins[3:] {
			in.waitReady(t, 60*time.Second)
		}
		b.waitReaders(2, 60*time.Second)
		grown = owners(t, ins)
	})
	out := movedPlaces(before, grown)

	var back map[string][]string
	l.around(500*time.Millisecond, 500*time.Millisecond, func() {
		for _, in := range ins[3:] {
			in.stopGracefully(t)
		}
		ins = ins[:3]
		b.waitReaders(2, 60*time.Second)
		back = owners(t, ins)
	})
	in := movedPlaces(grown, back)
	settle(t, ins...)

	places := 2 * len(b.channels)
	t.Logf("3 → 5 instances: %d of %d owner places moved (%.0f%%, rendezvous expects 40%%); 5 → 3: %d moved back", out, places, 100*float64(out)/float64(places), in)
	if out == 0 || out == places {
		t.Errorf("3 → 5 moved %d of %d owner places", out, places)
	}
	if moved := movedPlaces(before, back); moved != 0 {
		t.Errorf("back to the same three instances, %d owner places differ from the start", moved)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.unread) > 0 {
		t.Errorf("%d of %d messages reached no reader", len(l.unread), len(l.sent))
	}
	msgs := readClusterStream(t, b.nats)
	harness.CheckEnvelopes(t, msgs, l.sent)
}

// TestE2EClusterRollingRestartOneReplica replaces both instances of a
// one-replica cluster under load, one at a time: make-before-break hands
// every channel over before its reader stops, so nothing is lost.
func TestE2EClusterRollingRestartOneReplica(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	clusterTurn(t)
	b := newClusterBed(t, clusterChannels, twitchtest.Config{}, map[string]string{"CLUSTER_REPLICAS": "1"})
	ins := []*instance{b.start("i1"), b.start("i2")}
	for _, in := range ins {
		in.waitReady(t, 60*time.Second)
	}
	b.waitReaders(1, 60*time.Second)
	l := b.newLoad(clusterRate)
	alive := slices.Clone(ins)
	for i, old := range ins {
		nw := b.start(fmt.Sprintf("n%d", i+1))
		nw.waitReady(t, 60*time.Second)
		l.around(500*time.Millisecond, 500*time.Millisecond, func() {
			old.stopGracefully(t)
			alive = slices.DeleteFunc(alive, func(x *instance) bool { return x == old })
			alive = append(alive, nw)
			b.waitReaders(1, 60*time.Second)
		})
	}
	settle(t, alive...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.unread) > 0 {
		t.Errorf("%d of %d messages reached no reader during the rolling restart", len(l.unread), len(l.sent))
	}
	msgs := readClusterStream(t, b.nats)
	harness.CheckEnvelopes(t, msgs, l.sent)
	t.Logf("rolling restart of 2 instances with 1 replica: %d messages sent, %d on the stream", len(l.sent), len(msgs))
}

// TestE2EClusterNATSNodeLoss kills the NATS node that leads the stream
// under load (and, when it also leads them, the cluster's buckets): the
// instances keep reading, their publishes are retried on the other nodes,
// and the stream holds every message exactly once.
func TestE2EClusterNATSNodeLoss(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	clusterTurn(t)
	b := newClusterBed(t, clusterChannels, twitchtest.Config{}, map[string]string{"CLUSTER_REPLICAS": "2"})
	ins := []*instance{b.start("i1"), b.start("i2"), b.start("i3")}
	for _, in := range ins {
		in.waitReady(t, 60*time.Second)
	}
	b.waitReaders(2, 60*time.Second)
	l := b.startLoad(clusterRate)
	time.Sleep(500 * time.Millisecond)
	leader := b.nats.StreamLeader("INGRESS")
	if leader < 0 {
		t.Fatal("no leader for the stream")
	}
	var led []string
	for _, s := range []string{"INGRESS", "KV_ingress_members", "KV_ingress_channels", "KV_ingress_confirmed"} {
		if b.nats.StreamLeader(s) == leader {
			led = append(led, s)
		}
	}
	b.nats.Stop(leader)
	time.Sleep(2 * time.Second)
	l.stop()
	settle(t, ins...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.unread) > 0 {
		t.Errorf("%d of %d messages reached no reader", len(l.unread), len(l.sent))
	}
	msgs := readClusterStream(t, b.nats)
	harness.CheckEnvelopes(t, msgs, l.sent)
	var retries float64
	for _, in := range ins {
		retries += harness.Metric(t, harness.Metrics(t, in.base), "ingress_bus_retries_total", "")
	}
	t.Logf("NATS node %d killed under load (it led %v): %d messages sent, %d on the stream, %v publishes retried", leader+1, led, len(l.sent), len(msgs), retries)
}

// TestE2EClusterCutOff cuts one of three instances (one replica) off from
// NATS, bus and buckets alike, through a proxy that drops its connections
// and refuses new ones: its lease expires and the others take its channels
// over while it keeps reading them; when it is back it publishes what it
// held, the stream drops the copies, and the channels end with one reader
// each again. Nothing is lost or duplicated.
func TestE2EClusterCutOff(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	clusterTurn(t)
	b := newClusterBed(t, clusterChannels, twitchtest.Config{}, map[string]string{"CLUSTER_REPLICAS": "1"})
	target := strings.TrimPrefix(b.nats.NodeURL(0), "nats://")
	p := harness.StartFaultProxy(t, target)
	ins := []*instance{b.start("i1"), b.start("i2"), b.start("i3", "NATS_URL", "nats://"+p.Addr())}
	for _, in := range ins {
		in.waitReady(t, 60*time.Second)
	}
	b.waitReaders(1, 60*time.Second)
	victim := joinedChannels(t, ins[2])
	l := b.newLoad(clusterRate)
	var cut time.Time
	var takeover time.Duration
	l.around(500*time.Millisecond, 500*time.Millisecond, func() {
		p.Down()
		cut = time.Now()
		// The others join the victim's channels, which it still reads.
		harness.WaitFor(t, 60*time.Second, 20*time.Millisecond, "the cut-off instance's channels read twice", func() (bool, string) {
			rs := b.readers()
			for ch := range victim {
				if rs[ch] != 2 {
					return false, fmt.Sprintf("%s read %d times", ch, rs[ch])
				}
			}
			return true, ""
		})
		takeover = time.Since(cut)
	})
	var back time.Time
	var settled time.Duration
	l.around(500*time.Millisecond, 500*time.Millisecond, func() {
		p.Up(target)
		back = time.Now()
		b.waitReaders(1, 60*time.Second)
		settled = time.Since(back)
	})
	settle(t, ins...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.unread) > 0 {
		t.Errorf("%d of %d messages reached no reader", len(l.unread), len(l.sent))
	}
	msgs := readClusterStream(t, b.nats)
	harness.CheckEnvelopes(t, msgs, l.sent)
	t.Logf("instance cut off from NATS (lease TTL 2 s): its %d channels read by another %v later; back after %v, one reader per channel again %v later; %d messages sent, %d on the stream",
		len(victim), takeover.Round(10*time.Millisecond), back.Sub(cut).Round(10*time.Millisecond), settled.Round(10*time.Millisecond), len(l.sent), len(msgs))
}

// readClusterStream reads every envelope of the INGRESS stream of a NATS
// cluster, message by message by sequence (direct gets, no consumer: a
// consumer just created on a cluster can answer "no responders" for a
// moment), several requests at a time.
func readClusterStream(t *testing.T, nc *natsNodes) []harness.StoredMsg {
	t.Helper()
	js, err := jetstream.New(nc.Connect())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var s jetstream.Stream
	for {
		s, err = js.Stream(ctx, "INGRESS")
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("stream info: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	last := s.CachedInfo().State.LastSeq
	got := make([]*jetstream.RawStreamMsg, last+1)
	const workers = 16
	var wg sync.WaitGroup
	var failed sync.Once
	for w := range uint64(workers) {
		wg.Go(func() {
			for seq := 1 + w; seq <= last; seq += workers {
				for {
					m, err := s.GetMsg(ctx, seq)
					if err == nil {
						got[seq] = m
						break
					}
					if errors.Is(err, jetstream.ErrMsgNotFound) {
						break
					}
					if ctx.Err() != nil {
						failed.Do(func() { t.Errorf("get message %d: %v", seq, err) })
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var out []harness.StoredMsg
	for _, m := range got {
		if m == nil || m.Subject != "internal.ingress.v1" {
			continue
		}
		out = append(out, harness.StoredMsg{Subject: m.Subject, MsgID: m.Header.Get(jetstream.MsgIDHeader), Data: m.Data})
	}
	return out
}
