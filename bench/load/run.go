package load

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bench/consumer"
	"github.com/ingress-egress/ingress-egress/bench/loss"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// Config is one load run. The zero value, with Service and NATSURL set, is
// 1 channel at 1,000 lines/s for 5 s through JetStream.
type Config struct {
	// Scenario labels the run in its Result (for the report).
	Scenario string
	// Target is what reads chat and publishes: Ours (default), GoPeer,
	// Twurple or Floor (core or jetstream).
	Target string
	// Bus is "jetstream" (default: the shared bus at NATSURL, through a
	// stream with a 2 min duplicate window; the service publishes directly,
	// OUTBOX=off, as the peers do), "outbox" (the same stream, the service
	// through its durable outbox, OUTBOX=disk; Ours only), "core" (core NATS
	// at NATSURL) or "embedded" (the service's own embedded NATS; Ours only).
	Bus string
	// Channels is the number of channels, named ch0 … ch(N−1). Default 1.
	Channels int
	// Rate is the lines per second the fake server writes over all
	// channels; negative sends as fast as the target's connections take
	// them. Default 1000.
	Rate float64
	// Duration is how long the fake server sends. Default 5 s.
	Duration time.Duration
	// Lines, when positive, stops sending after this many lines.
	Lines int64
	// ChannelsPerConn is the most channels on one connection: the service's
	// TWITCH_CHANNELS_PER_CONN; the peers get as many connections as the
	// service opens. Default 90.
	ChannelsPerConn int
	// JoinRate is the service's TWITCH_JOIN_RATE (JOINs per 10 s per
	// Twitch identity). Default 2000, a verified bot's; negative leaves the
	// service's default (20, Twitch's limit for a normal account).
	JoinRate int
	// ConnectRate is the service's TWITCH_CONNECT_RATE (new anonymous
	// connections per second); 0 leaves the service's default (5).
	ConnectRate int
	// ServerJoinLimit, when positive, makes the fake server enforce
	// Twitch's per-identity JOIN limit: at most this many JOINs per 10 s per
	// login, a client over it is dropped (Result.JoinKicks). Default 0: no
	// limit.
	ServerJoinLimit int
	// Transport is how the service reaches the fake server: "tcp" (default)
	// or "ws" (WebSocket; the service only).
	Transport string
	// PostChannels gives the service its channels through POST
	// /_admin/channels instead of TWITCH_CHANNELS. It is automatic when the
	// list does not fit in an environment variable (more than 100,000
	// bytes: ~12,000 channels).
	PostChannels bool
	// Restart, after the run, stops the service with SIGTERM, starts it
	// again (same settings, same data directory, the channels given the same
	// way) and measures the time until the fake server has every channel
	// joined again (Result.RejoinSeconds). The service only.
	Restart bool
	// NATSURL is the shared bus (core, jetstream); BusPID its process (0:
	// in this process), for its CPU seconds.
	NATSURL string
	BusPID  int
	// Service is the ingress-egress binary; GoPeer the bench/peers/gopeer
	// binary; Node and TwurpleJS run bench/peers/twurple/peer.js; Floor is
	// the bench/peers/floor binary.
	Service, GoPeer, Node, TwurpleJS, Floor string
	// Dir is a scratch directory (data, working directory). Default a new
	// temporary directory, removed after the run.
	Dir string
	// Drain is how long to wait, after the last line was sent, without a
	// new envelope before the read ends. Default 5 s.
	Drain time.Duration
	// JoinTimeout bounds the wait for every channel to be joined. Default
	// 3 min.
	JoinTimeout time.Duration
	// Sample is the RSS sampling interval. Default 1 s.
	Sample time.Duration
	// Seed picks the corpus lines. Default 1.
	Seed int64
	// Log, when set, receives the target's output lines and progress.
	Log io.Writer
}

func (c *Config) defaults() {
	if c.Target == "" {
		c.Target = Ours
	}
	if c.Bus == "" {
		c.Bus = "jetstream"
	}
	if c.Channels <= 0 {
		c.Channels = 1
	}
	if c.Rate == 0 {
		c.Rate = 1000
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.ChannelsPerConn <= 0 {
		c.ChannelsPerConn = 90
	}
	if c.JoinRate == 0 {
		c.JoinRate = 2000
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.Drain <= 0 {
		c.Drain = 5 * time.Second
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 3 * time.Minute
	}
	if c.Sample <= 0 {
		c.Sample = time.Second
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Node == "" {
		c.Node = "node"
	}
}

// Result is what one run measured. Durations are in nanoseconds in JSON.
type Result struct {
	Scenario    string    `json:"scenario"`
	Target      string    `json:"target"`
	Bus         string    `json:"bus"`
	Channels    int       `json:"channels"`
	Connections int       `json:"connections"`
	Rate        float64   `json:"rate"` // asked; negative: as fast as taken
	Start       time.Time `json:"start"`
	JoinSeconds float64   `json:"joinSeconds"`
	Seconds     float64   `json:"seconds"` // the send window
	// DrainSeconds is from the last line sent to the last envelope read.
	DrainSeconds float64 `json:"drainSeconds"`

	Sent          int64 `json:"sent"`
	SentConnected int64 `json:"sentConnected"`
	// Received and Published are the target's own counts: PRIVMSGs read,
	// envelopes acknowledged by the bus; Errors its publish failures.
	Received  int64 `json:"received"`
	Published int64 `json:"published"`
	Errors    int64 `json:"errors"`
	// Check is the loss checker's verdict, with the latency percentiles.
	Check loss.Result `json:"check"`
	Gaps  int         `json:"gaps"`

	InPerSec    float64 `json:"inPerSec"`    // lines sent per second
	AckedPerSec float64 `json:"ackedPerSec"` // envelopes read back once, per second of run

	CPU           float64 `json:"cpu"`        // the target's CPU seconds in the send window and drain
	BusCPU        float64 `json:"busCpu"`     // the bus process's (0: in process or n/a)
	HarnessCPU    float64 `json:"harnessCpu"` // fake server + consumer (+ bus in process)
	CPUPerMillion float64 `json:"cpuPerMillion"`
	PeakRSS       int64   `json:"peakRss"` // VmHWM, bytes
	RSS           []int64 `json:"rss"`     // VmRSS every Sample, bytes, from the end of the join
	// AllocBytesPerLine estimates the bytes the target allocated per line
	// from its GC trace (Go targets; −1 when unknown); GCs counts cycles.
	AllocBytesPerLine float64 `json:"allocBytesPerLine"`
	GCs               int     `json:"gcs"`
	// MaxHeapMB is the largest Go heap the target's GC trace showed (at the
	// start of a cycle), in MB: how much of the peak RSS is Go heap.
	MaxHeapMB float64 `json:"maxHeapMb,omitempty"`
	Load1     float64 `json:"load1"` // the machine's 1-minute load average at the start
	// Machine is the whole machine's CPU time by state over the send window
	// and drain (other work on the machine included).
	Machine       MachineCPU `json:"machine"`
	EnvelopeBytes int        `json:"envelopeBytes"`
	Err           string     `json:"err,omitempty"`

	// Transport is Config.Transport ("" in results from before it existed:
	// tcp).
	Transport string `json:"transport,omitempty"`
	// JoinRate and ConnectRate are the service's settings (0: its
	// defaults); ServerJoinLimit the fake server's JOINs per 10 s per login
	// (0: none).
	JoinRate        int `json:"joinRate,omitempty"`
	ConnectRate     int `json:"connectRate,omitempty"`
	ServerJoinLimit int `json:"serverJoinLimit,omitempty"`
	// MaxWindowJoins is the most JOINs one login sent within 10 s, as the
	// fake server counted them (with ServerJoinLimit); JoinKicks the clients
	// it dropped for going over; Logins the logins it accepted.
	MaxWindowJoins int `json:"maxWindowJoins,omitempty"`
	JoinKicks      int `json:"joinKicks,omitempty"`
	Logins         int `json:"logins,omitempty"`
	// SteadyRSS is the mean VmRSS over the second half of the send window,
	// bytes.
	SteadyRSS int64 `json:"steadyRss,omitempty"`
	// AckP99 is the service's own p99 from reading a line to the bus
	// acknowledging its envelope over the send window and drain, in
	// seconds: the upper bound of the bucket of
	// ingress_receive_to_ack_seconds that holds it (−1: above the largest
	// bucket; 0: not read).
	AckP99 float64 `json:"ackP99,omitempty"`
	// With Config.Restart: StopSeconds from SIGTERM to the process's exit,
	// RejoinSeconds from the new process's start to every channel joined,
	// RestartSeconds from SIGTERM to every channel joined.
	StopSeconds    float64 `json:"stopSeconds,omitempty"`
	RejoinSeconds  float64 `json:"rejoinSeconds,omitempty"`
	RestartSeconds float64 `json:"restartSeconds,omitempty"`
	// Where a backlog waited, sampled every second of the send window and
	// drain: the most lines queued in the fake server for the target's
	// connections (in total, and for one connection), and the most
	// envelopes the consumer had received and not yet handled.
	MaxServerQueued    int `json:"maxServerQueued,omitempty"`
	MaxConnQueued      int `json:"maxConnQueued,omitempty"`
	MaxConsumerBacklog int `json:"maxConsumerBacklog,omitempty"`
}

// Sustained reports whether the run kept up with its rate without loss:
// it is OK, the fake server wrote at least 97 % of the lines asked for (the
// target did not push back), and the last envelope arrived less than 1 s
// after the last line was sent (no backlog).
func (r *Result) Sustained() bool {
	return r.OK() && r.Rate > 0 && r.InPerSec >= 0.97*r.Rate && r.DrainSeconds < 1
}

// OK reports whether the run delivered every line once.
func (r *Result) OK() bool {
	return r.Err == "" && r.Check.OK() && r.Check.Delivered == int(r.SentConnected)
}

// Run performs one load run: it starts a fake Twitch server and the target,
// waits for every channel to be joined, sends for cfg.Duration, reads every
// envelope back, stops the target and checks the result. The returned
// error is for a run that could not be made; a run that lost or duplicated
// lines returns its Result with a nil error (see Result.OK).
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.defaults()
	res := Result{Scenario: cfg.Scenario, Target: cfg.Target, Bus: cfg.Bus, Channels: cfg.Channels, Rate: cfg.Rate, Start: time.Now(),
		Load1: load1(), AllocBytesPerLine: -1, Transport: cfg.Transport, JoinRate: max(0, cfg.JoinRate), ConnectRate: cfg.ConnectRate,
		ServerJoinLimit: max(0, cfg.ServerJoinLimit)}
	if cfg.Restart && cfg.Target != Ours {
		return res, errors.New("load: Restart is for the service only")
	}
	res.Connections = (cfg.Channels + cfg.ChannelsPerConn - 1) / cfg.ChannelsPerConn
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "load-*")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		cfg.Dir = d
	}
	channels := make([]string, cfg.Channels)
	for i := range channels {
		channels[i] = "ch" + strconv.Itoa(i)
	}
	runID := rand.Uint32()
	prefix := fmt.Sprintf("r%08x.", runID)
	stream := fmt.Sprintf("LOAD_%08X", runID)
	subject := prefix + "internal.ingress.v1"

	joinLimit := -1
	if cfg.ServerJoinLimit > 0 {
		joinLimit = cfg.ServerJoinLimit
	}
	srv := twitchtest.NewServer(twitchtest.Config{JoinLimit: joinLimit, JoinWindow: 10 * time.Second, MaxQueue: 1 << 14})
	defer srv.Close()
	ircURL, err := srv.Listen(cfg.Transport)
	if err != nil {
		return res, err
	}
	post := cfg.PostChannels || envLen(channels) > maxEnvChannels

	natsURL := cfg.NATSURL
	if err := TargetBus(cfg.Target, cfg.Bus); err != nil {
		return res, err
	}
	if cfg.Bus == "embedded" {
		port, err := freePort()
		if err != nil {
			return res, err
		}
		natsURL = "nats://127.0.0.1:" + strconv.Itoa(port)
	} else if natsURL == "" {
		return res, errors.New("load: no NATSURL")
	}

	check := newSeqChecker(runID, channels, 2*time.Second)
	var got, lastRecv atomic.Int64
	var envBytes atomic.Int64
	opts := consumer.Options{Subject: subject, Idle: time.Hour, Timeout: cfg.JoinTimeout + cfg.Duration + 10*time.Minute,
		OnEnvelope: func(r loss.Received) {
			check.Received(r)
			got.Add(1)
			lastRecv.Store(r.At.UnixNano())
		}}
	var nc *nats.Conn
	var cons *consumer.Consumer
	startConsumer := func() error {
		var err error
		for i := 0; i < 100; i++ { // the embedded bus starts with the service
			nc, err = nats.Connect(natsURL, nats.MaxReconnects(-1))
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("load: connect to the bus: %w", err)
		}
		// One envelope's size, for the JetStream ceiling's payload.
		sizeSub, err := nc.Subscribe(subject, func(m *nats.Msg) { envBytes.CompareAndSwap(0, int64(len(m.Data))) })
		if err == nil {
			sizeSub.AutoUnsubscribe(1)
		}
		if cfg.Bus != "core" {
			opts.Stream = stream
		}
		cons, err = consumer.Start(ctx, nc, opts)
		return err
	}
	if cfg.Bus == "jetstream" || cfg.Bus == "outbox" {
		if nc0, err := nats.Connect(natsURL); err == nil {
			js, _ := jetstream.New(nc0)
			_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{prefix + "internal.>"},
				Duplicates: 2 * time.Minute, MaxBytes: 4 << 30, Storage: jetstream.FileStorage})
			if err == nil {
				defer func() {
					dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_ = js.DeleteStream(dctx, stream)
					cancel()
					nc0.Close()
				}()
			} else {
				nc0.Close()
				return res, fmt.Errorf("load: create stream: %w", err)
			}
		} else {
			return res, fmt.Errorf("load: connect to the bus: %w", err)
		}
	}
	if cfg.Bus != "embedded" {
		if err := startConsumer(); err != nil {
			return res, err
		}
	}
	defer func() {
		if cons != nil {
			cons.Stop()
			_, _ = cons.Wait()
		}
		if nc != nil {
			nc.Close()
		}
	}()

	logf(cfg.Log, "run %s %s over %s: %d channels, %g lines/s, %v", cfg.Target, cfg.Bus, cfg.Transport, cfg.Channels, cfg.Rate, cfg.Duration)
	// start starts the target and waits until the fake server has every
	// channel joined; it returns the time that took.
	start := func() (*process, float64, error) {
		joinStart := time.Now()
		p, err := startTarget(&cfg, ircURL, natsURL, prefix, stream, channels, cfg.Dir, post)
		if err != nil {
			return nil, 0, err
		}
		if post {
			if err := p.postChannels(ctx, channels); err != nil {
				return p, 0, err
			}
		}
		deadline := joinStart.Add(cfg.JoinTimeout)
		nextLog := joinStart.Add(30 * time.Second)
		for srv.JoinedChannels() < len(channels) {
			if p.exited() {
				return p, 0, fmt.Errorf("load: %s exited while joining: %s", cfg.Target, p.tailText())
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return p, 0, fmt.Errorf("load: %s joined %d of %d channels in %v", cfg.Target, srv.JoinedChannels(), len(channels), cfg.JoinTimeout)
			}
			if time.Now().After(nextLog) {
				st := srv.Stats()
				logf(cfg.Log, "joining: %d of %d channels, %d logins, after %.0f s", srv.JoinedChannels(), len(channels), st.Logins, time.Since(joinStart).Seconds())
				nextLog = nextLog.Add(30 * time.Second)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return p, time.Since(joinStart).Seconds(), nil
	}
	p, joinSeconds, err := start()
	stopped := false
	defer func() {
		if p != nil && !stopped {
			_ = p.stop(30 * time.Second)
		}
	}()
	if err != nil {
		return res, err
	}
	res.JoinSeconds = joinSeconds
	if cfg.Bus == "embedded" {
		if err := startConsumer(); err != nil {
			return res, err
		}
	}
	logf(cfg.Log, "joined %d channels in %.1f s", len(channels), res.JoinSeconds)

	snd := &sender{srv: srv, prefix: runID, check: check}
	// RSS sampler, from now to the end of the drain.
	var rssMu sync.Mutex
	sampleCtx, stopSample := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(cfg.Sample)
		defer t.Stop()
		for i := 0; ; i++ {
			rss, _, err := ProcMem(p.pid())
			total, most := srv.Queued()
			backlog := 0
			if cons != nil {
				backlog = cons.Pending()
			}
			rssMu.Lock()
			if err == nil {
				res.RSS = append(res.RSS, rss)
			}
			res.MaxServerQueued, res.MaxConnQueued = max(res.MaxServerQueued, total), max(res.MaxConnQueued, most)
			res.MaxConsumerBacklog = max(res.MaxConsumerBacklog, backlog)
			rssMu.Unlock()
			if cfg.Log != nil && i > 0 && i%30 == 0 {
				svc := ""
				if cfg.Target == Ours {
					if b, err := httpGet(sampleCtx, "http://"+p.http+"/metrics"); err == nil {
						m := parseMetrics(b)
						svc = fmt.Sprintf(", the service read %.0f and published %.0f", m[`ingress_lines_received_by_command_total{command="PRIVMSG"}`],
							m["ingress_bus_published_total"])
					}
				}
				logf(cfg.Log, "sent %d%s, read back %d; queued in the fake server %d (most on one connection %d), consumer backlog %d, target RSS %.0f MiB",
					snd.sent.Load(), svc, got.Load(), total, most, backlog, float64(rss)/(1<<20))
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	}()

	var ackBounds, ack0 []float64
	if cfg.Target == Ours {
		ackBounds, ack0, _ = p.ackLatency(ctx)
	}
	cpu0, _ := ProcCPU(p.pid())
	bus0 := busCPU(cfg.BusPID)
	h0, _ := ProcCPU(0)
	m0, _ := ReadMachineCPU()
	p.mu.Lock()
	gc0 := p.gc
	p.mu.Unlock()

	per := max(1, min(64, 4096/len(channels)))
	if snd.templates, err = makeTemplates(cfg.Seed, channels, per); err != nil {
		stopSample()
		return res, err
	}
	sendCtx, cancelSend := context.WithTimeout(ctx, cfg.Duration)
	sendStart := time.Now()
	rate := cfg.Rate
	if rate < 0 {
		rate = 0
	}
	snd.run(sendCtx, rate, cfg.Lines)
	cancelSend()
	sendEnd := time.Now()
	res.Seconds = sendEnd.Sub(sendStart).Seconds()
	res.Sent, res.SentConnected = snd.sent.Load(), snd.connected.Load()
	rssMu.Lock()
	if k := len(res.RSS); k >= 2 {
		var t float64
		for _, v := range res.RSS[k/2 : k] {
			t += float64(v)
		}
		res.SteadyRSS = int64(t / float64(k-k/2))
	}
	rssMu.Unlock()
	logf(cfg.Log, "sent %d lines in %.1f s; draining", res.Sent, res.Seconds)

	// Drain: until every connected line is back, or no progress for Drain.
	last, lastChange := got.Load(), time.Now()
	for got.Load() < res.SentConnected && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		if n := got.Load(); n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > cfg.Drain {
			break
		}
		if p.exited() {
			break
		}
	}
	time.Sleep(200 * time.Millisecond) // late duplicates
	stopSample()
	<-sampled
	if lr := lastRecv.Load(); lr > 0 {
		res.DrainSeconds = max(0, time.Unix(0, lr).Sub(sendEnd).Seconds())
	}
	cpu1, _ := ProcCPU(p.pid())
	bus1 := busCPU(cfg.BusPID)
	h1, _ := ProcCPU(0)
	m1, _ := ReadMachineCPU()
	res.Machine = m1.Sub(m0)
	_, hwm, _ := ProcMem(p.pid())
	res.CPU, res.BusCPU, res.HarnessCPU, res.PeakRSS = cpu1-cpu0, bus1-bus0, h1-h0, hwm
	p.mu.Lock()
	gc1 := p.gc
	p.mu.Unlock()

	var c counts
	var cerr error
	if cfg.Target == Ours {
		c, cerr = p.serviceCounts(ctx)
		if b, ack1, err := p.ackLatency(ctx); err == nil && slices.Equal(b, ackBounds) {
			res.AckP99 = histQuantile(b, ack0, ack1, 0.99)
		}
	}
	stopped = true
	stopAt := time.Now()
	if err := p.stop(40 * time.Second); err != nil && res.Err == "" {
		res.Err = err.Error()
	}
	res.StopSeconds = time.Since(stopAt).Seconds()
	if cfg.Target != Ours {
		c, cerr = p.peerCounts()
	}
	if cerr != nil && res.Err == "" {
		res.Err = cerr.Error()
	}
	cons.Stop()
	cres, werr := cons.Wait()
	cons = nil
	if werr != nil && res.Err == "" {
		res.Err = werr.Error()
	}
	if cres.Dropped > 0 && res.Err == "" {
		res.Err = fmt.Sprintf("consumer dropped %d envelopes", cres.Dropped)
	}
	res.Received, res.Published, res.Errors, res.Gaps = c.Received, c.Published, c.Errors, len(c.Gaps)
	for _, g := range c.Gaps {
		check.Gap(g)
	}
	res.Check = check.Result()
	res.EnvelopeBytes = int(envBytes.Load())

	lines := float64(res.Sent)
	if res.Seconds > 0 {
		res.InPerSec = lines / res.Seconds
	}
	if lr := lastRecv.Load(); lr > 0 {
		if span := time.Unix(0, lr).Sub(sendStart).Seconds(); span > 0 {
			res.AckedPerSec = float64(res.Check.Delivered) / max(span, res.Seconds)
		}
	}
	st := srv.Stats()
	res.MaxWindowJoins, res.JoinKicks, res.Logins = st.MaxWindowJoins, st.JoinKicks, st.Logins
	if cfg.Restart && res.Err == "" {
		// The old connections must be gone from the fake server before the
		// new process's JOINs count.
		for i := 0; i < 200 && srv.JoinedChannels() > 0; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		logf(cfg.Log, "restarting %s (stopped in %.1f s)", cfg.Target, res.StopSeconds)
		stopped = false
		var rejoin float64
		p, rejoin, err = start()
		if err != nil {
			res.Err = "restart: " + err.Error()
		} else {
			res.RejoinSeconds, res.RestartSeconds = rejoin, time.Since(stopAt).Seconds()
			logf(cfg.Log, "rejoined %d channels in %.1f s after the restart (%.1f s after SIGTERM)", len(channels), rejoin, res.RestartSeconds)
		}
		if p != nil {
			stopped = true
			if err := p.stop(40 * time.Second); err != nil && res.Err == "" {
				res.Err = err.Error()
			}
		}
		st = srv.Stats()
		res.MaxWindowJoins, res.JoinKicks, res.Logins = st.MaxWindowJoins, st.JoinKicks, st.Logins
	}
	if lines > 0 {
		res.CPUPerMillion = res.CPU / lines * 1e6
		res.MaxHeapMB = gc1.maxHeap
		if gc1.cycles > gc0.cycles {
			res.GCs = gc1.cycles - gc0.cycles
			res.AllocBytesPerLine = (gc1.allocMB - gc0.allocMB) * (1 << 20) / lines
		}
	}
	logf(cfg.Log, "%s", Summary(&res))
	return res, nil
}

// envLen is the length of TWITCH_CHANNELS's value for channels.
func envLen(channels []string) int {
	n := max(0, len(channels)-1)
	for _, c := range channels {
		n += len(c)
	}
	return n
}

func busCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	c, _ := ProcCPU(pid)
	return c
}

func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, time.Now().Format("15:04:05 ")+format+"\n", args...)
	}
}

// Summary is a one-line description of r.
func Summary(r *Result) string {
	return fmt.Sprintf("%s/%s/%s ch=%d conns=%d join=%.1fs rejoin=%.1fs rate=%g: sent=%d in=%.0f/s acked=%.0f/s delivered=%d lost=%d dup=%d notrecv=%d unexp=%d p50=%v p99=%v p999=%v cpu=%.2fs (%.1f s/M) bus=%.2fs harness=%.2fs rss=%.1fMiB ok=%v %s",
		r.Target, r.Bus, cmp.Or(r.Transport, "tcp"), r.Channels, r.Connections, r.JoinSeconds, r.RejoinSeconds, r.Rate, r.Sent, r.InPerSec, r.AckedPerSec, r.Check.Delivered, r.Check.Lost,
		r.Check.Duplicated, r.Check.NotReceived, r.Check.Unexpected, r.Check.Latency.P50, r.Check.Latency.P99,
		r.Check.Latency.P999, r.CPU, r.CPUPerMillion, r.BusCPU, r.HarnessCPU, float64(r.PeakRSS)/(1<<20), r.OK(), r.Err)
}
