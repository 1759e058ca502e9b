package faults

// The scenario machinery: a recording fake Twitch server, instances of the
// service with a monitor each, a generator, the bus read back, and the
// figure of the run.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

func TestMain(m *testing.M) { harness.Main(m) }

// long selects the long versions of the scenarios (FAULTS_LONG=1, as
// bench/cmd/faults sets): the durations of the fault-injection report
// instead of CI's short ones.
var long = os.Getenv("FAULTS_LONG") == "1"

// pick returns short in CI and long with FAULTS_LONG=1.
func pick[T any](short, longV T) T {
	if long {
		return longV
	}
	return short
}

// rate is the generator's lines per second: FAULTS_RATE, or 500 in CI and
// 1,000 in the long versions.
func rate() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("FAULTS_RATE"), 64); err == nil && v > 0 {
		return v
	}
	return pick(500.0, 1000.0)
}

// scenario is one run: the fake server, the service instances, the lines.
type scenario struct {
	t        *testing.T
	fig      Figure
	fake     *twitchtest.Server
	ircURL   string
	channels []string
	insts    []*instance

	genMu     sync.Mutex
	genCancel context.CancelFunc
	genDone   chan struct{}

	faultEnd time.Time       // for the recovery figure; zero: none
	killed   time.Time       // Input.Killed
	named    map[string]bool // Input.Named
	exclude  map[string]bool
	extra    []Interval // intervals of instances that are gone
	recorded bool
}

// newScenario starts a recording fake Twitch server speaking proto ("tcp"
// or "ws") with cfg, for channels ch0…chN-1.
func newScenario(t *testing.T, id, what, expected string, cfg twitchtest.Config, proto string, channels int) *scenario {
	t.Helper()
	harness.Binary(t)
	cfg.Record = true
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 1 << 20 // the generator never waits: Twitch does not
	}
	if cfg.JoinLimit == 0 {
		cfg.JoinLimit = -1
	}
	s := &scenario{t: t, exclude: map[string]bool{}}
	s.fig = Figure{ID: id, Scenario: what, Expected: expected, Version: pick("short", "long"), Race: harness.Race, Recovery: -1}
	s.fake, s.ircURL = harness.StartFakeTwitch(t, cfg, proto)
	for i := range channels {
		s.channels = append(s.channels, "ch"+strconv.Itoa(i))
	}
	t.Cleanup(func() {
		if !s.recorded { // a scenario that stopped early still has a row
			s.record()
		}
	})
	t.Cleanup(s.stopGen)
	return s
}

// env returns the service's environment for this scenario: the fake
// server, the channels, a free HTTP port, fast reconnects, and no outbox:
// these scenarios hold the publisher's memory path to the promise (the
// outbox in front of nats and pubsub absorbs a bus outage on disk, and has
// tests of its own); extra wins.
func (s *scenario) env(extra map[string]string) map[string]string {
	e := map[string]string{
		"TWITCH_IRC_URL":           s.ircURL,
		"TWITCH_CHANNELS":          strings.Join(s.channels, ","),
		"PORT":                     "0",
		"IRC_RECONNECT_INITIAL_MS": "100",
		"IRC_RECONNECT_MAX_MS":     "2000",
		"OUTBOX":                   "off",
	}
	for k, v := range extra {
		if v == "" {
			delete(e, k)
		} else {
			e[k] = v
		}
	}
	return e
}

// instance is one running service with its monitor.
type instance struct {
	s     *scenario
	p     *harness.Proc
	base  string
	token string
	mon   *monitor
}

// start runs the service with env and waits for its HTTP server; with
// ready, also for /readyz 200.
func (s *scenario) start(env map[string]string, ready bool) *instance {
	s.t.Helper()
	in := &instance{s: s, p: harness.Start(s.t, env), token: env["ADMIN_TOKEN"]}
	in.base = in.p.HTTPBase()
	if ready {
		in.waitReady("the service ready", 60*time.Second)
	}
	in.mon = startMonitor(s.t, in)
	s.insts = append(s.insts, in)
	return in
}

// waitReady waits up to d for /readyz 200.
func (in *instance) waitReady(what string, d time.Duration) {
	in.s.t.Helper()
	harness.WaitFor(in.s.t, d, 20*time.Millisecond, what, func() (bool, string) {
		code, body, err := get(in.base+"/readyz", "")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, strconv.Itoa(code) + " " + body
	})
}

// debug reads /_debug/twitch.
func (in *instance) debug() (debugSnap, error) {
	var d debugSnap
	code, body, err := get(in.base+"/_debug/twitch", in.token)
	if err != nil {
		return d, err
	}
	if code != http.StatusOK {
		return d, fmt.Errorf("/_debug/twitch: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		return d, fmt.Errorf("/_debug/twitch: %v", err)
	}
	d.At = time.Now()
	return d, nil
}

// mustDebug is debug failing the test on error.
func (in *instance) mustDebug() debugSnap {
	in.s.t.Helper()
	d, err := in.debug()
	if err != nil {
		in.s.t.Fatal(err)
	}
	return d
}

// debugSnap is the part of /_debug/twitch the suite reads.
type debugSnap struct {
	At  time.Time `json:"-"`
	Bus struct {
		Ready    bool   `json:"ready"`
		Pending  int    `json:"pending"`
		Accepted uint64 `json:"accepted"`
		Acked    uint64 `json:"acked"`
		Lost     uint64 `json:"lost"`
		Unknown  uint64 `json:"unknown"`
		Failures uint64 `json:"failureEvents"`
	} `json:"bus"`
	Outbox *outboxSnap `json:"outbox"` // nil without the outbox
	Ingest struct {
		Envelopes     uint64 `json:"envelopes"`
		PublishErrors uint64 `json:"publishErrors"`
	} `json:"ingest"`
	Twitch struct {
		Ready       bool         `json:"ready"`
		Wanted      int          `json:"wanted"`
		Joined      int          `json:"joined"`
		Gaps        uint64       `json:"gaps"`
		OpenGaps    []gapJSON    `json:"openGaps"`
		RecentGaps  []gapJSON    `json:"recentGaps"`
		Stalled     int          `json:"stalled"`
		Connections []connStatus `json:"connections"`
	} `json:"twitch"`
}

// outboxSnap is the part of /_debug/twitch → outbox the suite reads.
type outboxSnap struct {
	Remote    string  `json:"remote"`
	Messages  uint64  `json:"messages"`
	Bytes     uint64  `json:"bytes"`
	MaxBytes  int64   `json:"maxBytes"`
	OldestAge float64 `json:"oldestAgeSeconds"`
	Stored    uint64  `json:"stored"`
	Forwarded uint64  `json:"forwarded"`
	Lost      uint64  `json:"lost"`
	Retries   uint64  `json:"retries"`
	FullWaits uint64  `json:"fullWaits"`
	FullWait  float64 `json:"fullWaitSeconds"`
}

type gapJSON struct {
	Channel string    `json:"channel"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
}

type connStatus struct {
	ID           int               `json:"id"`
	State        string            `json:"state"`
	Joined       []string          `json:"joined"`
	Pending      []string          `json:"pending"`
	StalledSince time.Time         `json:"stalledSince"`
	BehindSince  time.Time         `json:"behindSince"`
	ReasonCounts map[string]uint64 `json:"reconnectsByReason"`
	Counters     struct {
		Lines        uint64            `json:"lines"`
		ByCommand    map[string]uint64 `json:"byCommand"`
		Reconnects   uint64            `json:"reconnects"`
		Stalls       uint64            `json:"stalls"`
		StallSeconds float64           `json:"stallSeconds"`
		DedupHits    uint64            `json:"dedupHits"`
	} `json:"counters"`
}

// reconnects adds up the reconnects of every connection.
func (d *debugSnap) reconnects() uint64 {
	var n uint64
	for _, c := range d.Twitch.Connections {
		n += c.Counters.Reconnects
	}
	return n
}

// privmsgs adds up the PRIVMSG lines read by every connection.
func (d *debugSnap) privmsgs() uint64 {
	var n uint64
	for _, c := range d.Twitch.Connections {
		n += c.Counters.ByCommand["PRIVMSG"]
	}
	return n
}

var client = &http.Client{Timeout: 5 * time.Second}

// get makes one bounded GET with token as the bearer unless empty.
func get(url, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, string(b), err
}

// monitor polls an instance every 100 ms: readiness, /_debug/twitch and
// the process's resident memory.
type monitor struct {
	in   *instance
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	ready   []readySample
	last    debugSnap
	hasLast bool
	slots   map[int][]string // connection slot → its channels, last seen
	rss     []int64
	gone    bool // the process exited
}

type readySample struct {
	at    time.Time
	ready bool
}

func startMonitor(t *testing.T, in *instance) *monitor {
	m := &monitor{in: in, stop: make(chan struct{}), done: make(chan struct{}), slots: map[int][]string{}}
	go m.loop()
	t.Cleanup(m.close)
	return m
}

func (m *monitor) close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

func (m *monitor) loop() {
	defer close(m.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		m.sample()
		select {
		case <-m.stop:
			return
		case <-m.in.p.Done():
			m.mu.Lock()
			m.gone = true
			m.mu.Unlock()
			return
		case <-tick.C:
		}
	}
}

func (m *monitor) sample() {
	now := time.Now()
	code, _, err := get(m.in.base+"/readyz", "")
	d, derr := m.in.debug()
	st, ok := harness.ReadProcStatus(m.in.p.Pid())
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		m.ready = append(m.ready, readySample{now, code == http.StatusOK})
	}
	if derr == nil {
		m.last, m.hasLast = d, true
		for _, c := range d.Twitch.Connections {
			m.slots[c.ID] = append(append([]string(nil), c.Joined...), c.Pending...)
		}
	}
	if ok && st.RSS > 0 {
		m.rss = append(m.rss, st.RSS)
	}
}

// rssFigures returns the first, the largest and the last RSS sample.
func (m *monitor) rssFigures() (before, peak, after int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.rss) == 0 {
		return 0, 0, 0
	}
	return m.rss[0], slices.Max(m.rss), m.rss[len(m.rss)-1]
}

// readyAgain returns the first time at or after t that /readyz answered
// 200 and stayed so at the next sample; the zero time if it did not.
func (m *monitor) readyAgain(t time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range m.ready {
		if r.at.Before(t) || !r.ready {
			continue
		}
		if i+1 == len(m.ready) || m.ready[i+1].ready {
			return r.at
		}
	}
	return time.Time{}
}

// notReadyBetween reports whether /readyz answered 503 at some sample in
// [from, to].
func (m *monitor) notReadyBetween(from, to time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.ready {
		if !r.at.Before(from) && !r.at.After(to) && !r.ready {
			return true
		}
	}
	return false
}

// intervals returns the gaps and stalls the instance reported: "gap
// closed" log records, the last /_debug/twitch (recent and open gaps, open
// stalls, to now), and the "reading resumed" records (each a stall of its
// connection's channels).
func (in *instance) intervals() []Interval {
	now := time.Now()
	if d, err := in.debug(); err == nil {
		in.mon.mu.Lock()
		in.mon.last, in.mon.hasLast = d, true
		for _, c := range d.Twitch.Connections {
			in.mon.slots[c.ID] = append(append([]string(nil), c.Joined...), c.Pending...)
		}
		in.mon.mu.Unlock()
	}
	in.mon.mu.Lock()
	last, has := in.mon.last, in.mon.hasLast
	slots := map[int][]string{}
	for k, v := range in.mon.slots {
		slots[k] = v
	}
	gone := in.mon.gone
	in.mon.mu.Unlock()
	if gone {
		if t := in.p.ExitedAt(); !t.IsZero() {
			now = t
		}
	}
	var out []Interval
	stall := func(slot int, from, to time.Time) {
		chs, ok := slots[slot]
		if !ok {
			out = append(out, Interval{From: from, To: to, Kind: KindStall})
			return
		}
		for _, ch := range chs {
			out = append(out, Interval{Channel: ch, From: from, To: to, Kind: KindStall})
		}
	}
	if has {
		for _, g := range last.Twitch.RecentGaps {
			out = append(out, Interval{Channel: g.Channel, From: g.Start, To: g.End, Kind: KindGap})
		}
		for _, g := range last.Twitch.OpenGaps {
			out = append(out, Interval{Channel: g.Channel, From: g.Start, To: now, Kind: KindGap})
		}
		for _, c := range last.Twitch.Connections {
			if !c.StalledSince.IsZero() {
				stall(c.ID, c.StalledSince, now)
			}
		}
	}
	for _, rec := range in.p.Logs() {
		at, err := time.Parse(time.RFC3339Nano, str(rec["time"]))
		if err != nil {
			continue
		}
		switch rec["message"] {
		case "gap closed":
			start, err1 := time.Parse(time.RFC3339Nano, str(rec["start"]))
			end, err2 := time.Parse(time.RFC3339Nano, str(rec["end"]))
			if err1 == nil && err2 == nil {
				out = append(out, Interval{Channel: str(rec["channel"]), From: start, To: end, Kind: KindGap})
			}
		case "reading stopped at shutdown: the channels' gap starts here":
			// Every channel: what the server sent after the last read of
			// a connection the shutdown ended was never read.
			if since, err := time.Parse(time.RFC3339Nano, str(rec["since"])); err == nil {
				out = append(out, Interval{From: since, To: at, Kind: KindGap})
			}
		case "reading resumed after waiting on the handler":
			waited, err := time.ParseDuration(str(rec["waited"]))
			slot, _ := rec["slot"].(float64)
			if err == nil {
				stall(int(slot), at.Add(-waited), at)
			}
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// startGen generates PRIVMSGs round robin over the channels at r lines
// per second until stopGen.
func (s *scenario) startGen(r float64) {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	if s.genCancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.genCancel, s.genDone = cancel, done
	go func() {
		defer close(done)
		s.fake.Generate(ctx, twitchtest.Gen{Channels: s.channels, Rate: r})
	}()
}

// stopGen stops the generator and waits for it.
func (s *scenario) stopGen() {
	s.genMu.Lock()
	cancel, done := s.genCancel, s.genDone
	s.genCancel, s.genDone = nil, nil
	s.genMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// generate runs the generator at r for d.
func (s *scenario) generate(r float64, d time.Duration) {
	s.startGen(r)
	time.Sleep(d)
	s.stopGen()
}

// settle waits until every running instance has read what it can read and
// settled every message: no lines read, nothing accepted, nothing pending
// and the outbox (if any) empty for a second (at most 90 s, or 10 min in
// the long versions, whose outbox backlog can be an outage of 10 minutes).
// It does not judge: the check does.
func (s *scenario) settle() {
	s.t.Helper()
	type mark struct {
		read, accepted uint64
		pending        int
		outbox         uint64
	}
	for _, in := range s.insts {
		if !in.p.ExitedAt().IsZero() {
			continue
		}
		var prev mark
		stable := 0
		harness.WaitFor(s.t, pick(90*time.Second, 10*time.Minute), 100*time.Millisecond, "the service settled", func() (bool, string) {
			d, err := in.debug()
			if err != nil {
				return false, err.Error()
			}
			cur := mark{read: d.privmsgs(), accepted: d.Bus.Accepted, pending: d.Bus.Pending}
			if d.Outbox != nil {
				cur.outbox = d.Outbox.Messages
			}
			if cur == prev && cur.pending == 0 && cur.outbox == 0 {
				stable++
			} else {
				stable = 0
			}
			prev = cur
			return stable >= 10, fmt.Sprintf("%d read, %d accepted, %d pending, %d in the outbox", cur.read, cur.accepted, cur.pending, cur.outbox)
		})
	}
}

// check classifies what the fake server wrote against received, with the
// intervals every instance reported, fills in the figure and logs the
// problems.
func (s *scenario) check(received []Received) Result {
	s.t.Helper()
	ivs := append([]Interval(nil), s.extra...)
	for _, in := range s.insts {
		ivs = append(ivs, in.intervals()...)
	}
	r := Check(Input{
		Sent: s.fake.Records(0), Conns: s.fake.Conns(), Received: received,
		Intervals: ivs, Exclude: s.exclude, Killed: s.killed, Named: s.named,
	})
	f := &s.fig
	f.Sent, f.Delivered, f.Lost, f.Duplicated = r.Sent, r.Delivered, r.LostConnected, r.Duplicated
	f.InGap, f.Unreported, f.KilledInFlight, f.Named = r.InGap, r.Unreported, r.KilledInFlight, r.Named
	f.GapSeconds, f.StallSeconds = GapSeconds(ivs, KindGap), GapSeconds(ivs, KindStall)
	if len(s.insts) > 0 {
		f.RSSBefore, f.RSSPeak, f.RSSAfter = s.insts[0].mon.rssFigures()
	}
	if !s.faultEnd.IsZero() && len(s.insts) > 0 {
		rec := 0.0
		if at := s.insts[len(s.insts)-1].mon.readyAgain(s.faultEnd); !at.IsZero() {
			rec = max(0, at.Sub(s.faultEnd).Seconds())
		} else {
			rec = -1
		}
		sentAt := map[string]time.Time{}
		for _, l := range s.fake.Records(0) {
			if _, ok := sentAt[l.ID]; !ok {
				sentAt[l.ID] = l.At
			}
		}
		for _, m := range received {
			if at, ok := sentAt[m.ID]; ok && at.Before(s.faultEnd) && !m.Stored.IsZero() && rec >= 0 {
				rec = max(rec, m.Stored.Sub(s.faultEnd).Seconds())
			}
		}
		f.Recovery = rec
	}
	s.t.Logf("%s: %s; gaps %.1f s, stalls %.1f s per channel", f.Scenario, r.String(), f.GapSeconds, f.StallSeconds)
	for c, ex := range r.Examples {
		for _, e := range ex {
			s.t.Logf("  %v: %s", c, e)
		}
	}
	for _, id := range r.UnexpectedIDs {
		s.t.Logf("  unexpected envelope: %s", id)
	}
	if r.Unreported > 0 || r.LostConnected > 0 {
		for _, iv := range ivs {
			s.t.Logf("  reported %s %q %s → %s", iv.Kind, iv.Channel, iv.From.Format("15:04:05.000"), iv.To.Format("15:04:05.000"))
		}
		for _, c := range s.fake.Conns() {
			s.t.Logf("  connection %d %s → %s ended by %q: %s (%d unsent)", c.Client, c.Opened.Format("15:04:05.000"), c.Ended.Format("15:04:05.000"), c.EndedBy, c.Reason, c.Unsent)
		}
	}
	return r
}

// pass applies the suite's rule to r (and the scenario's own failures so
// far), records the figure and fails the test when it does not hold.
func (s *scenario) pass(r Result) {
	s.t.Helper()
	if r.LostConnected > 0 {
		s.t.Errorf("%d lines lost while connected", r.LostConnected)
	}
	if r.Unreported > 0 {
		s.t.Errorf("%d lines not received outside any reported gap", r.Unreported)
	}
	if r.Unexpected > 0 {
		s.t.Errorf("%d envelopes of lines never sent", r.Unexpected)
	}
	if r.Sent == 0 {
		s.t.Errorf("no line was sent to the service")
	}
	s.record()
}

// record writes the figure to FAULTS_REPORT (when set); Pass is whether
// the test has not failed.
func (s *scenario) record() {
	s.recorded = true
	s.fig.Pass = !s.t.Failed()
	s.t.Logf("figure: %+v", s.fig)
	if path := os.Getenv("FAULTS_REPORT"); path != "" {
		if err := WriteFigure(path, s.fig); err != nil {
			s.t.Errorf("writing the figure: %v", err)
		}
	}
}

// inProcessNATS starts an in-process nats-server with the service's
// stream, for the scenarios whose faults are not the bus's, and returns
// the service's bus settings and the stream's reader.
func (s *scenario) inProcessNATS() (map[string]string, func() []Received) {
	s.t.Helper()
	ns := harness.StartNATS(s.t, "")
	harness.CreateIngressStream(s.t, ns.ClientURL(), "")
	env := map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.ClientURL()}
	return env, func() []Received { return readJetStream(s.t, ns.ClientURL(), "", "INGRESS") }
}

// merge returns the union of maps, later ones winning.
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// waitJoined waits until the fake server has a live client joined to
// every channel of the scenario.
func (s *scenario) waitJoined(what string, d time.Duration) {
	s.t.Helper()
	harness.WaitFor(s.t, d, 20*time.Millisecond, what, func() (bool, string) {
		joined := map[string]bool{}
		for _, c := range s.fake.Clients() {
			if c.Closed() {
				continue
			}
			for _, ch := range c.Channels() {
				joined[ch] = true
			}
		}
		n := 0
		for _, ch := range s.channels {
			if joined[ch] {
				n++
			}
		}
		return n == len(s.channels), fmt.Sprintf("%d of %d channels joined", n, len(s.channels))
	})
}
