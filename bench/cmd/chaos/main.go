// Command chaos runs the long version of the cluster's fault scenarios:
// instances of the service binary with CLUSTER=nats share the channels of
// the fake Twitch server through a three-node NATS cluster (in this
// process, routed on loopback), under load, while every -every one instance
// is killed (SIGKILL, then a replacement starts) or replaced (a new one
// starts, becomes ready, and the old one gets SIGTERM: a rolling restart),
// alternately. At the end it reads the stream back and prints what was
// sent, delivered, lost and duplicated, and the gap: the seconds during
// which a channel had no reader, summed over the channels.
//
//	go run ./cmd/chaos -duration 10m -every 30s -instances 3 -replicas 2 -channels 300 -rate 2000
//
// Run it from bench/ (the service is built from -repo, default ..).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bench/load"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

type options struct {
	duration, every, lease, shutdown time.Duration
	instances, replicas, channels    int
	rate                             float64
	repo, service                    string
	keep                             bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the load and the faults last")
	flag.DurationVar(&o.every, "every", 30*time.Second, "time between two faults")
	flag.DurationVar(&o.lease, "lease", 10*time.Second, "CLUSTER_LEASE_TTL")
	flag.DurationVar(&o.shutdown, "shutdown", 20*time.Second, "SHUTDOWN_TIMEOUT of the instances")
	flag.IntVar(&o.instances, "instances", 3, "instances running at once")
	flag.IntVar(&o.replicas, "replicas", 2, "CLUSTER_REPLICAS")
	flag.IntVar(&o.channels, "channels", 300, "channels")
	flag.Float64Var(&o.rate, "rate", 2000, "lines per second, over all channels")
	flag.StringVar(&o.repo, "repo", "..", "the service's repository, built when -service is not given")
	flag.StringVar(&o.service, "service", "", "the service binary (default: built from -repo)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs of every instance)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "chaos-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("work directory %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if o.service == "" {
		logf("building the service from %s", o.repo)
		if o.service, err = load.Build(o.repo, ".", filepath.Join(dir, "ingress-egress")); err != nil {
			return err
		}
	}
	nodes, urls, err := startNATS(filepath.Join(dir, "nats"))
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range nodes {
			s.Shutdown()
		}
	}()
	url := strings.Join(urls, ",")
	if err := createStream(url); err != nil {
		return err
	}
	fake := twitchtest.NewServer(twitchtest.Config{})
	defer fake.Close()
	ircURL, err := fake.Listen("tcp")
	if err != nil {
		return err
	}
	chans := make([]string, o.channels)
	for i := range chans {
		chans[i] = fmt.Sprintf("chan%04d", i)
	}
	c := &cluster{o: o, dir: dir, env: map[string]string{
		"TWITCH_IRC_URL":           ircURL,
		"TWITCH_CHANNELS":          strings.Join(chans, ","),
		"PORT":                     "0",
		"MESSAGE_BUS_DRIVER":       "nats",
		"NATS_URL":                 url,
		"CLUSTER":                  "nats",
		"CLUSTER_REPLICAS":         strconv.Itoa(o.replicas),
		"CLUSTER_LEASE_TTL":        o.lease.String(),
		"SHUTDOWN_TIMEOUT":         o.shutdown.String(),
		"TWITCH_CHANNELS_PER_CONN": "20",
		"IRC_RECONNECT_INITIAL_MS": "100",
		"IRC_RECONNECT_MAX_MS":     "1000",
		"LOG_FORMAT":               "json",
	}}
	defer c.stopAll()
	for range o.instances {
		if _, err := c.start(); err != nil {
			return err
		}
	}
	for _, in := range c.running() {
		if err := in.waitReady(5 * time.Minute); err != nil {
			return err
		}
	}
	if err := waitReaders(fake, chans, o.replicas, 5*time.Minute); err != nil {
		return err
	}
	logf("%d instances ready, every channel read %d times; load at %.0f lines/s for %v, a fault every %v",
		o.instances, o.replicas, o.rate, o.duration, o.every)

	l := startLoad(fake, chans, o.rate)
	deadline := time.Now().Add(o.duration)
	faults := map[string]int{}
	for i := 0; time.Now().Add(o.every).Before(deadline); i++ {
		time.Sleep(o.every)
		victims := c.running()
		victim := victims[rand.IntN(len(victims))]
		if i%2 == 0 {
			logf("SIGKILL %s", victim.id)
			victim.p.Process.Signal(syscall.SIGKILL)
			victim.wait(10 * time.Second)
			c.forget(victim)
			faults["kill"]++
			time.Sleep(time.Second) // the platform notices and starts a replacement
			in, err := c.start()
			if err != nil {
				return err
			}
			if err := in.waitReady(5 * time.Minute); err != nil {
				return err
			}
		} else {
			in, err := c.start()
			if err != nil {
				return err
			}
			if err := in.waitReady(5 * time.Minute); err != nil {
				return err
			}
			logf("SIGTERM %s (replaced by %s)", victim.id, in.id)
			victim.p.Process.Signal(syscall.SIGTERM)
			if code, ok := victim.wait(o.shutdown + 10*time.Second); !ok || code != 0 {
				logf("%s exited %v with code %d", victim.id, ok, code)
			}
			c.forget(victim)
			faults["restart"]++
		}
	}
	time.Sleep(time.Until(deadline))
	l.stop()
	logf("load stopped: %d lines sent; waiting for the publishers", l.count())
	for _, in := range c.running() {
		in.settle(2 * time.Minute)
	}
	stored, err := readStream(url)
	if err != nil {
		return err
	}
	r := l.result(stored)
	fmt.Printf("instances %d, replicas %d, channels %d, rate %.0f lines/s, lease TTL %v, %v with a fault every %v (%d SIGKILL, %d rolling restarts)\n",
		o.instances, o.replicas, o.channels, o.rate, o.lease, o.duration, o.every, faults["kill"], faults["restart"])
	fmt.Printf("sent %d  delivered %d  lost %d  duplicated %d  unexpected %d  gap %.1f s over %d gaps (longest %.2f s)\n",
		r.sent, r.delivered, r.lost, r.duplicated, r.unexpected, r.gapSeconds, r.gaps, r.maxGap)
	return nil
}

// startNATS starts three JetStream nodes routed to one another.
func startNATS(dir string) ([]*server.Server, []string, error) {
	ports, err := freePorts(6)
	if err != nil {
		return nil, nil, err
	}
	var routes, urls []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	var nodes []*server.Server
	for i := range 3 {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: filepath.Join(dir, strconv.Itoa(i+1)), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "chaos", Host: "127.0.0.1", Port: ports[3+i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			return nil, nil, err
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			return nil, nil, errors.New("nats node not ready")
		}
		nodes = append(nodes, s)
	}
	return nodes, urls, nil
}

func freePorts(n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// createStream creates the INGRESS stream on three replicas, once
// JetStream has a leader.
func createStream(url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name: "INGRESS", Subjects: []string{"internal.ingress.v1", "internal.finalize.v1"},
			Duplicates: 2 * time.Minute, Replicas: 3,
		})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("create the stream: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cluster is the set of running instances.
type cluster struct {
	o    options
	dir  string
	env  map[string]string
	mu   sync.Mutex
	next int
	ins  []*instance
}

type instance struct {
	id   string
	p    *exec.Cmd
	base string
	done chan struct{}
	code int
}

func (c *cluster) start() (*instance, error) {
	c.mu.Lock()
	c.next++
	id := fmt.Sprintf("i%d", c.next)
	c.mu.Unlock()
	wd := filepath.Join(c.dir, id)
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(wd, "stderr.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.o.service)
	cmd.Dir = wd
	cmd.Env = []string{"CLUSTER_INSTANCE_ID=" + id}
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(logFile, pw)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	in := &instance{id: id, p: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			in.code = ee.ExitCode()
		}
		pw.Close()
		logFile.Close()
		close(in.done)
	}()
	// The HTTP address comes in the "started" record.
	addr := make(chan string, 1)
	go func() {
		dec := json.NewDecoder(pr)
		sent := false
		for {
			var rec map[string]any
			if err := dec.Decode(&rec); err != nil {
				io.Copy(io.Discard, pr)
				return
			}
			if !sent && rec["message"] == "started" {
				a, _ := rec["http"].(string)
				addr <- a
				sent = true
			}
		}
	}()
	select {
	case a := <-addr:
		_, port, _ := net.SplitHostPort(a)
		in.base = "http://127.0.0.1:" + port
	case <-in.done:
		return nil, fmt.Errorf("%s exited at start (see %s)", id, wd)
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("%s did not start", id)
	}
	c.mu.Lock()
	c.ins = append(c.ins, in)
	c.mu.Unlock()
	logf("started %s", id)
	return in, nil
}

func (c *cluster) running() []*instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*instance(nil), c.ins...)
}

func (c *cluster) forget(in *instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.ins {
		if x == in {
			c.ins = append(c.ins[:i], c.ins[i+1:]...)
			return
		}
	}
}

func (c *cluster) stopAll() {
	for _, in := range c.running() {
		in.p.Process.Signal(syscall.SIGTERM)
	}
	for _, in := range c.running() {
		if _, ok := in.wait(c.o.shutdown + 10*time.Second); !ok {
			syscall.Kill(-in.p.Process.Pid, syscall.SIGKILL)
			in.wait(10 * time.Second)
		}
	}
}

func (in *instance) wait(d time.Duration) (int, bool) {
	select {
	case <-in.done:
		return in.code, true
	case <-time.After(d):
		return -1, false
	}
}

var client = &http.Client{Timeout: 5 * time.Second}

func (in *instance) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := client.Get(in.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %v", in.id, d)
}

// settle waits until the instance's publisher holds nothing.
func (in *instance) settle(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := client.Get(in.base + "/_debug/twitch")
		if err == nil {
			var v struct {
				Bus struct {
					Pending int `json:"pending"`
				} `json:"bus"`
			}
			json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if v.Bus.Pending == 0 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("%s: publisher not settled within %v", in.id, d)
}

func waitReaders(fake *twitchtest.Server, chans []string, n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		count := map[string]int{}
		for _, cl := range fake.Clients() {
			if !cl.Closed() {
				for _, ch := range cl.Channels() {
					count[ch]++
				}
			}
		}
		ok := true
		for _, ch := range chans {
			if count[ch] < n {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("channels not read %d times within %v", n, d)
}

// loadGen generates the lines and tracks, per channel, the intervals in
// which the fake server had no client in it.
type loadGen struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	sent   map[string]bool // id → some client got it
	open   map[int]time.Time
	gaps   int
	gapSec float64
	maxGap float64
}

func startLoad(fake *twitchtest.Server, chans []string, rate float64) *loadGen {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loadGen{cancel: cancel, done: make(chan struct{}), sent: map[string]bool{}, open: map[int]time.Time{}}
	n := 0
	go func() {
		defer close(l.done)
		fake.Generate(ctx, twitchtest.Gen{Channels: chans, Rate: rate, OnSent: func(id string, clients int) {
			now := time.Now()
			ch := n % len(chans)
			n++
			l.mu.Lock()
			defer l.mu.Unlock()
			l.sent[id] = clients > 0
			start, inGap := l.open[ch]
			switch {
			case clients == 0 && !inGap:
				l.open[ch] = now
			case clients > 0 && inGap:
				d := now.Sub(start).Seconds()
				l.gaps++
				l.gapSec += d
				l.maxGap = max(l.maxGap, d)
				delete(l.open, ch)
			}
		}})
	}()
	return l
}

func (l *loadGen) stop() { l.cancel(); <-l.done }

func (l *loadGen) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sent)
}

type result struct {
	sent, delivered, lost, duplicated, unexpected, gaps int
	gapSeconds, maxGap                                  float64
}

func (l *loadGen) result(stored map[string]int) result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := result{sent: len(l.sent), gaps: l.gaps, gapSeconds: l.gapSec, maxGap: l.maxGap}
	for id, n := range stored {
		if _, ok := l.sent[id]; !ok {
			r.unexpected += n
			continue
		}
		r.delivered++
		r.duplicated += n - 1
	}
	r.lost = r.sent - r.delivered
	return r
}

// readStream counts the envelopes of the stream by their Twitch message id
// (the Nats-Msg-Id), through an ordered consumer, fetching again after an
// error (a consumer just created on a cluster can answer no responders).
func readStream(url string) (map[string]int, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, "INGRESS")
	if err != nil {
		return nil, err
	}
	last := s.CachedInfo().State.LastSeq
	cons, err := js.OrderedConsumer(ctx, "INGRESS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"internal.ingress.v1"}})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	var seen uint64
	for seen < last && ctx.Err() == nil {
		batch, err := cons.Fetch(5000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err == nil {
				seen = max(seen, md.Sequence.Stream)
			}
			out[m.Headers().Get(jetstream.MsgIDHeader)]++
		}
		if got == 0 {
			// Nothing more on the subject (the last messages may be failure
			// events on another subject).
			info, err := cons.Info(ctx)
			if err == nil && info.NumPending == 0 {
				break
			}
		}
	}
	return out, ctx.Err()
}
