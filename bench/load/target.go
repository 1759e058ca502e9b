package load

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ingress-egress/ingress-egress/bench/loss"
)

// The targets: the service, the two peers of bench/peers, and the floor
// (bench/peers/floor: the service's chat reading and core publishing with
// no per-line work, to show what the I/O alone costs).
const (
	Ours    = "ingress-egress"
	GoPeer  = "go-twitch-irc"
	Twurple = "twurple"
	Floor   = "floor"
)

// TargetBus reports whether target can run on bus: the outbox and the
// embedded bus are the service's own, and the floor publishes directly,
// over core NATS or JetStream.
func TargetBus(target, bus string) error {
	switch {
	case target == Floor && bus != "core" && bus != "jetstream":
		return fmt.Errorf("load: the floor publishes over core NATS or JetStream, not %s", bus)
	case (bus == "outbox" || bus == "embedded") && target != Ours:
		return fmt.Errorf("load: the %s bus is the service's own; peers need core or jetstream", bus)
	}
	return nil
}

// process is a running target.
type process struct {
	name string
	cmd  *exec.Cmd
	http string // the service's HTTP address; "" for the peers

	mu      sync.Mutex
	gc      gcTrace
	summary string // a peer's last stdout line
	tail    []string
	done    chan struct{}
	waitErr error
}

// counts is what the target says it did.
type counts struct {
	Received  int64 // lines (PRIVMSGs) read from chat
	Published int64 // envelopes acknowledged by the bus
	Errors    int64
	Gaps      []loss.Gap
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startTarget starts cfg.Target against the fake server at ircURL
// (tcp://host:port or ws://host:port; the peers speak plain TCP only, the
// floor both, as the service) and
// the bus. With postChannels the service starts without TWITCH_CHANNELS,
// to be given them through POST /_admin/channels (postChannels).
func startTarget(cfg *Config, ircURL, natsURL, subjectPrefix, stream string, channels []string, dir string, postChannels bool) (*process, error) {
	irc, tcp := strings.CutPrefix(ircURL, "tcp://")
	if !tcp && cfg.Target != Ours && cfg.Target != Floor {
		return nil, fmt.Errorf("load: %s speaks plain TCP only, not %s", cfg.Target, ircURL)
	}
	p := &process{name: cfg.Target, done: make(chan struct{})}
	conns := (len(channels) + cfg.ChannelsPerConn - 1) / cfg.ChannelsPerConn
	jsMode := cfg.Bus != "core"
	var cmd *exec.Cmd
	switch cfg.Target {
	case Ours:
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p.http = "127.0.0.1:" + strconv.Itoa(port)
		cmd = exec.Command(cfg.Service)
		env := []string{
			"TWITCH_IRC_URL=" + ircURL,
			"TWITCH_CHANNELS_PER_CONN=" + strconv.Itoa(cfg.ChannelsPerConn),
			"PORT=" + strconv.Itoa(port),
			"LOG_LEVEL=warn",
			"BUS_PREFIX=" + subjectPrefix,
			"DATA_DIR=" + dir,
			"NATS_STREAM=" + stream,
			"SHUTDOWN_TIMEOUT=20s",
		}
		if !postChannels {
			env = append(env, "TWITCH_CHANNELS="+strings.Join(channels, ","))
		}
		// JoinRate < 0 and ConnectRate 0 leave the service's defaults.
		if cfg.JoinRate > 0 {
			env = append(env, "TWITCH_JOIN_RATE="+strconv.Itoa(cfg.JoinRate))
		}
		if cfg.ConnectRate > 0 {
			env = append(env, "TWITCH_CONNECT_RATE="+strconv.Itoa(cfg.ConnectRate))
		}
		switch cfg.Bus {
		case "core":
			env = append(env, "MESSAGE_BUS_DRIVER=nats-core", "NATS_URL="+natsURL)
		case "jetstream":
			env = append(env, "MESSAGE_BUS_DRIVER=nats", "NATS_URL="+natsURL, "OUTBOX=off")
		case "outbox":
			env = append(env, "MESSAGE_BUS_DRIVER=nats", "NATS_URL="+natsURL, "OUTBOX=disk")
		case "embedded":
			env = append(env, "MESSAGE_BUS_DRIVER=embedded", "EMBEDDED_NATS_PORT="+strings.TrimPrefix(natsURL, "nats://127.0.0.1:"))
		}
		cmd.Env = append(baseEnv(), env...)
	case GoPeer:
		args := []string{"--irc", irc, "--channels", strings.Join(channels, ","), "--connections", strconv.Itoa(conns),
			"--nats", natsURL, "--subject", subjectPrefix + "internal.ingress.v1", "--drain", "20s"}
		if jsMode {
			args = append(args, "--jetstream", "--stream", stream)
		}
		cmd = exec.Command(cfg.GoPeer, args...)
		cmd.Env = baseEnv()
	case Floor:
		if err := TargetBus(cfg.Target, cfg.Bus); err != nil {
			return nil, err
		}
		args := []string{"--irc", ircURL, "--channels", strings.Join(channels, ","), "--channels-per-conn", strconv.Itoa(cfg.ChannelsPerConn),
			"--nats", natsURL, "--bus-prefix", subjectPrefix, "--subject", subjectPrefix + "internal.ingress.v1", "--drain", "20s",
			"--seed", strconv.FormatInt(cfg.Seed, 10)}
		// As for the service: JoinRate < 0 and ConnectRate 0 leave its defaults.
		if cfg.JoinRate > 0 {
			args = append(args, "--join-rate", strconv.Itoa(cfg.JoinRate))
		}
		if cfg.ConnectRate > 0 {
			args = append(args, "--connect-rate", strconv.Itoa(cfg.ConnectRate))
		}
		if jsMode {
			args = append(args, "--jetstream")
		}
		cmd = exec.Command(cfg.Floor, args...)
		cmd.Env = baseEnv()
	case Twurple:
		args := []string{cfg.TwurpleJS, "--irc", irc, "--channels", strings.Join(channels, ","), "--connections", strconv.Itoa(conns),
			"--nats", natsURL, "--subject", subjectPrefix + "internal.ingress.v1", "--drain", "20"}
		if jsMode {
			args = append(args, "--jetstream", "--stream", stream)
		}
		cmd = exec.Command(cfg.Node, args...)
		cmd.Env = os.Environ()
	default:
		return nil, fmt.Errorf("load: unknown target %q", cfg.Target)
	}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load: start %s: %w", cfg.Target, err)
	}
	p.cmd = cmd
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.read(stdout, cfg.Log, true) }()
	go func() { defer wg.Done(); p.read(stderr, cfg.Log, false) }()
	go func() {
		wg.Wait()
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// baseEnv is this process's environment for a Go child, with GC tracing on
// (the harness reads it to estimate allocation) and nothing that would
// change the child's settings.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TWITCH_") || strings.HasPrefix(k, "NATS_") || k == "GODEBUG" ||
			k == "MESSAGE_BUS_DRIVER" || k == "PORT" || k == "BUS_PREFIX" || k == "ADMIN_TOKEN" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GODEBUG=gctrace=1")
}

func (p *process) read(r io.Reader, log io.Writer, stdout bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		p.mu.Lock()
		if strings.HasPrefix(l, "gc ") {
			p.gc.line(l)
			p.mu.Unlock()
			continue
		}
		if stdout && strings.HasPrefix(l, "{") {
			p.summary = l
		}
		p.tail = append(p.tail, l)
		if len(p.tail) > 20 {
			p.tail = p.tail[1:]
		}
		p.mu.Unlock()
		if log != nil {
			fmt.Fprintf(log, "[%s] %s\n", p.name, l)
		}
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop signals the target to stop (SIGTERM), waits up to wait, then kills
// its process group.
func (p *process) stop(wait time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(wait):
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("load: %s did not stop within %v", p.name, wait)
}

func (p *process) tailText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// serviceCounts reads the service's /metrics and /_debug/twitch.
func (p *process) serviceCounts(ctx context.Context) (counts, error) {
	var c counts
	body, err := httpGet(ctx, "http://"+p.http+"/metrics")
	if err != nil {
		return c, err
	}
	m := parseMetrics(body)
	c.Received = int64(m["ingress_lines_received_by_command_total{command=\"PRIVMSG\"}"])
	c.Published = int64(m["ingress_bus_published_total"])
	c.Errors = int64(m["ingress_bus_lost_total"] + m["ingress_bus_unknown_total"] + m["ingress_bus_failure_events_total"] + m["ingress_publish_refused_total"])
	body, err = httpGet(ctx, "http://"+p.http+"/_debug/twitch")
	if err != nil {
		return c, err
	}
	var st struct {
		OpenGaps   []gapJSON `json:"openGaps"`
		RecentGaps []gapJSON `json:"recentGaps"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return c, fmt.Errorf("load: /_debug/twitch: %w", err)
	}
	now := time.Now()
	for _, g := range append(st.RecentGaps, st.OpenGaps...) {
		end := g.End
		if end.IsZero() {
			end = now
		}
		c.Gaps = append(c.Gaps, loss.Gap{Channel: g.Channel, From: g.Start, To: end})
	}
	return c, nil
}

type gapJSON struct {
	Channel string    `json:"channel"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
}

// peerCounts reads a peer's exit summary (after stop).
func (p *process) peerCounts() (counts, error) {
	p.mu.Lock()
	s := p.summary
	p.mu.Unlock()
	var c counts
	if s == "" {
		return c, errors.New("load: " + p.name + " printed no summary")
	}
	var sum struct {
		Received  int64 `json:"received"`
		Published int64 `json:"published"`
		Errors    int64 `json:"errors"`
	}
	if err := json.Unmarshal([]byte(s), &sum); err != nil {
		return c, fmt.Errorf("load: %s summary %q: %w", p.name, s, err)
	}
	c.Received, c.Published, c.Errors = sum.Received, sum.Published, sum.Errors
	return c, nil
}

// maxEnvChannels is the longest TWITCH_CHANNELS value the harness passes
// in the environment: Linux refuses to exec a process with one environment
// string longer than 128 KiB (MAX_ARG_STRLEN), i.e. ~16,000 channels named
// like ch12345. Longer lists go through POST /_admin/channels.
const maxEnvChannels = 100_000

// postChannels waits for the service's HTTP server and gives it channels
// through POST /_admin/channels, 5,000 at a time (the endpoint reads at
// most 1 MiB).
func (p *process) postChannels(ctx context.Context, channels []string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := httpGet(ctx, "http://"+p.http+"/livez"); err == nil {
			break
		} else if time.Now().After(deadline) || p.exited() {
			return fmt.Errorf("load: the service's HTTP server: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for len(channels) > 0 {
		n := min(len(channels), 5000)
		body, _ := json.Marshal(map[string][]string{"channels": channels[:n]})
		channels = channels[n:]
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		req, err := http.NewRequestWithContext(rctx, http.MethodPost, "http://"+p.http+"/_admin/channels", bytes.NewReader(body))
		if err != nil {
			cancel()
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			return fmt.Errorf("load: POST /_admin/channels: %w", err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("load: POST /_admin/channels: %s: %s", resp.Status, bytes.TrimSpace(msg))
		}
	}
	return nil
}

// ackLatency reads the service's receive→ack histogram
// (ingress_receive_to_ack_seconds): the bucket bounds, ascending, and the
// cumulative counts.
func (p *process) ackLatency(ctx context.Context) (bounds, counts []float64, err error) {
	body, err := httpGet(ctx, "http://"+p.http+"/metrics")
	if err != nil {
		return nil, nil, err
	}
	const key = `ingress_receive_to_ack_seconds_bucket{le="`
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range parseMetrics(body) {
		le, ok := strings.CutPrefix(k, key)
		if !ok {
			continue
		}
		le = strings.TrimSuffix(le, `"}`)
		b, err := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		if err != nil {
			continue
		}
		bs = append(bs, bucket{b, v})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	for _, b := range bs {
		bounds, counts = append(bounds, b.le), append(counts, b.n)
	}
	return bounds, counts, nil
}

// histQuantile returns the upper bound of the bucket holding quantile q of
// the observations between two reads of a cumulative histogram (counts0
// before, counts1 after): 0 when nothing was observed, −1 when the quantile
// lies above the largest finite bound.
func histQuantile(bounds, counts0, counts1 []float64, q float64) float64 {
	if len(bounds) == 0 || len(counts1) != len(bounds) {
		return 0
	}
	delta := func(i int) float64 {
		if len(counts0) == len(bounds) {
			return counts1[i] - counts0[i]
		}
		return counts1[i]
	}
	total := delta(len(bounds) - 1)
	if total <= 0 {
		return 0
	}
	for i, b := range bounds {
		if delta(i) >= q*total {
			if math.IsInf(b, 1) {
				return -1
			}
			return b
		}
	}
	return -1
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("load: GET %s: %s", url, resp.Status)
	}
	return b, nil
}

// parseMetrics reads a Prometheus text exposition into name{labels} → value.
func parseMetrics(b []byte) map[string]float64 {
	m := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}
