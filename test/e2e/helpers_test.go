package e2e

// Helpers of the end-to-end tests: they build the service binary once per
// test run, start it as a process in its own process group with a clean
// environment, collect its JSON log lines, and talk to its HTTP endpoints
// and to the bus.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

var (
	binOnce sync.Once
	binDir  string // removed by TestMain
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// serviceBinary builds the service once per test run (the build takes
// seconds even with a warm cache) and returns its path, with the race
// detector when the tests run with it. End-to-end tests are skipped with
// -short.
func serviceBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "ingress-egress-e2e-")
		if binErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		binPath = filepath.Join(binDir, "ingress-egress")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		root, err := moduleRoot(ctx, goTool)
		if err != nil {
			binErr = err
			return
		}
		args := []string{"build", "-o", binPath, "-ldflags", "-X main.version=e2e-test"}
		if raceEnabled {
			// A data race in the running service then ends it with a
			// report on stderr (not a JSON record) and exit code 66.
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, goTool, append(args, ".")...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// modulePath is the service's module, whose root holds package main.
const modulePath = "github.com/ingress-egress/ingress-egress"

// moduleRoot returns the directory of the service's module: the go tool
// resolves the package from the working directory (this module, or a module
// that requires it, such as bench/ with its replace directive); without an
// answer, the nearest go.mod upwards that declares modulePath.
func moduleRoot(ctx context.Context, goTool string) (string, error) {
	out, err := exec.CommandContext(ctx, goTool, "list", "-f", "{{.Dir}}", modulePath).Output()
	if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
		return dir, nil
	}
	wd, werr := os.Getwd()
	if werr != nil {
		return "", fmt.Errorf("finding the module root: go list: %v; working directory: %v", err, werr)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, rerr := os.ReadFile(filepath.Join(dir, "go.mod")); rerr == nil && declaresModule(b, modulePath) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("finding the module root: go list %s: %v, and no go.mod of it above %s", modulePath, err, wd)
		}
	}
}

// declaresModule reports whether the go.mod text b declares module path.
func declaresModule(b []byte, path string) bool {
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

// lockedBuffer is an io.Writer safe for concurrent use that also splits
// what it receives into lines.
type lockedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
	part  []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	b.part = append(b.part, p...)
	for {
		i := bytes.IndexByte(b.part, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, string(b.part[:i]))
		b.part = b.part[i+1:]
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// proc is the service binary running as a process.
type proc struct {
	t        *testing.T
	cmd      *exec.Cmd
	stdout   *lockedBuffer
	stderr   *lockedBuffer
	done     chan struct{} // closed when the process has exited
	exitCode int
	exitedAt time.Time
}

// startProc starts the binary with exactly env (nothing is inherited
// from the test's environment) and args, in its own process group. The
// test's cleanup kills the group if the process is still running.
func startProc(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	bin := serviceBinary(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{}
	if raceEnabled {
		// The race detector sleeps 1 s at exit by default: it would count
		// against the shutdown deadline under test.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{t: t, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		err := cmd.Wait()
		p.exitedAt = time.Now()
		p.exitCode = 0
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				p.exitCode = ee.ExitCode()
			} else {
				p.exitCode = -1
			}
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("process %d did not end after SIGKILL", cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("stderr of the service:\n%s", tail(p.stderr.String(), 8000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// signal sends sig to the process group.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		p.t.Fatalf("kill %v: %v", sig, err)
	}
}

// wait waits for the process to exit within d and returns its exit code.
func (p *proc) wait(d time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.exitCode, true
	case <-time.After(d):
		return -1, false
	}
}

// logs returns the JSON log records written to stderr so far; a line that
// is not a JSON object fails the test (every log line must be one).
func (p *proc) logs() []map[string]any {
	p.t.Helper()
	var out []map[string]any
	for _, l := range p.stderr.Lines() {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			p.t.Errorf("stderr line is not a JSON log record: %q", l)
			continue
		}
		out = append(out, rec)
	}
	return out
}

// waitLog waits up to d for a log record with the message msg and returns
// it.
func (p *proc) waitLog(msg string, d time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, l := range p.stderr.Lines() {
			if !strings.Contains(l, msg) {
				continue
			}
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) == nil && rec["message"] == msg {
				return rec
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("service exited (code %d) before logging %q:\n%s", p.exitCode, msg, tail(p.stderr.String(), 8000))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no log record %q within %v:\n%s", msg, d, tail(p.stderr.String(), 8000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// findLogs returns the records with message msg.
func (p *proc) findLogs(msg string) []map[string]any {
	var out []map[string]any
	for _, rec := range p.logs() {
		if rec["message"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// httpBase waits for the "started" record and returns the base URL of the
// service's HTTP server on loopback.
func (p *proc) httpBase() string {
	p.t.Helper()
	rec := p.waitLog("started", 20*time.Second)
	addr, _ := rec["http"].(string)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.t.Fatalf("started record has no http address: %v", rec)
	}
	return "http://127.0.0.1:" + port
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// httpDo makes one request and returns the status and the body.
func httpDo(t *testing.T, method, url, token string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	return httpDo(t, http.MethodGet, url, token, "")
}

// waitFor polls cond every interval until it returns true, failing the test
// after d with what cond last reported.
func waitFor(t *testing.T, d, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, d, last)
		}
		time.Sleep(interval)
	}
}

// readyz returns /readyz's status and body.
func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	return httpGet(t, base+"/readyz", "")
}

// debugSnapshot is the part of /_debug/twitch the tests read.
type debugSnapshot struct {
	Bus struct {
		Ready         bool   `json:"ready"`
		Pending       int    `json:"pending"`
		Accepted      uint64 `json:"accepted"`
		Acked         uint64 `json:"acked"`
		FailureEvents uint64 `json:"failureEvents"`
		Lost          uint64 `json:"lost"`
	} `json:"bus"`
	Credentials struct {
		Mode  string `json:"mode"`
		Ready bool   `json:"ready"`
	} `json:"credentials"`
	Ingest struct {
		Envelopes     uint64 `json:"envelopes"`
		NotEnabled    uint64 `json:"notEnabled"`
		NoEnvelope    uint64 `json:"noEnvelope"`
		PublishErrors uint64 `json:"publishErrors"`
	} `json:"ingest"`
	Twitch struct {
		Ready       bool   `json:"ready"`
		Wanted      int    `json:"wanted"`
		Joined      int    `json:"joined"`
		Gaps        uint64 `json:"gaps"`
		Connections []struct {
			State               string   `json:"state"`
			Joined              []string `json:"joined"`
			Pending             []string `json:"pending"`
			LastReconnect       string   `json:"lastReconnect"`
			LastReconnectReason string   `json:"lastReconnectReason"`
			Counters            struct {
				Lines         uint64            `json:"lines"`
				ByCommand     map[string]uint64 `json:"byCommand"`
				Reconnects    uint64            `json:"reconnects"`
				LoginFailures uint64            `json:"loginFailures"`
			} `json:"counters"`
		} `json:"connections"`
	} `json:"twitch"`
}

func getDebug(t *testing.T, base, token string) debugSnapshot {
	t.Helper()
	code, body := httpGet(t, base+"/_debug/twitch", token)
	if code != http.StatusOK {
		t.Fatalf("/_debug/twitch: %d %s", code, body)
	}
	var d debugSnapshot
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("/_debug/twitch is not JSON: %v\n%s", err, body)
	}
	return d
}

// metricFamilies scrapes /metrics and parses it with the Prometheus parser.
func metricFamilies(t *testing.T, base string) map[string]*dtoFamily {
	t.Helper()
	code, body := httpGet(t, base+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("expfmt rejects /metrics: %v\n%s", err, body)
	}
	out := make(map[string]*dtoFamily, len(fams))
	for name, f := range fams {
		df := &dtoFamily{typ: f.GetType().String(), samples: map[string]float64{}}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := 0.0
			switch {
			case m.Counter != nil:
				v = m.GetCounter().GetValue()
			case m.Gauge != nil:
				v = m.GetGauge().GetValue()
			case m.Histogram != nil:
				v = float64(m.GetHistogram().GetSampleCount())
			case m.Untyped != nil:
				v = m.GetUntyped().GetValue()
			}
			df.samples[strings.Join(labels, ",")] = v
		}
		out[name] = df
	}
	return out
}

// dtoFamily is one parsed metric family: its type and its samples by
// label set ("name=value,..."; "" without labels).
type dtoFamily struct {
	typ     string
	samples map[string]float64
}

// metric returns the sample of family name with labels, failing the test
// when it is missing.
func metric(t *testing.T, fams map[string]*dtoFamily, name, labels string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric family %s missing", name)
	}
	v, ok := f.samples[labels]
	if !ok {
		t.Fatalf("metric %s{%s} missing (have %v)", name, labels, f.samples)
	}
	return v
}

// startNATS starts an in-process nats-server with JetStream on 127.0.0.1,
// optionally requiring token, stopped by the test's cleanup.
func startNATS(t *testing.T, token string) *server.Server {
	t.Helper()
	return runNATS(t, &server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, Authorization: token,
	})
}

// runNATS starts an in-process nats-server with opts and waits until it
// takes connections; the test's cleanup stops it.
func runNATS(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// openStoredStream starts an in-process nats-server on the embedded bus's
// store (DATA_DIR/nats), once the service has exited, to read what it
// stored.
func openStoredStream(t *testing.T, dataDir string) *server.Server {
	t.Helper()
	return runNATS(t, &server.Options{
		ServerName: "ingress-egress-embedded", // the store is per server name
		Host:       "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(dataDir, "nats"),
		NoLog: true, NoSigs: true,
	})
}

// storedMsg is one message read back from the stream.
type storedMsg struct {
	Subject string
	MsgID   string // Nats-Msg-Id header
	Data    []byte
}

// readStream reads every message of stream whose subject is subject, until
// the consumer has nothing pending, within d.
func readStream(t *testing.T, url, token, stream, subject string, d time.Duration) []storedMsg {
	t.Helper()
	opts := []nats.Option{nats.Name("e2e-reader")}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("nats connect %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatalf("ordered consumer on %s: %v", stream, err)
	}
	var out []storedMsg
	for i := 0; ctx.Err() == nil && i < 100000; i++ {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			out = append(out, storedMsg{Subject: m.Subject(), MsgID: m.Headers().Get(jetstream.MsgIDHeader), Data: m.Data()})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Fatalf("fetch: %v", err)
		}
		if n > 0 {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatalf("consumer info: %v", err)
		}
		if info.NumPending == 0 {
			return out
		}
	}
	t.Fatalf("reading %s: not done within %v (%d messages read)", stream, d, len(out))
	return nil
}

// envelopeRec is the part of an envelope the tests check.
type envelopeRec struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Source struct {
		Platform  string `json:"platform"`
		Channel   string `json:"channel"`
		ChannelID string `json:"channelId"`
	} `json:"source"`
	User struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"user"`
	Payload struct {
		Text      string `json:"text"`
		MessageID string `json:"messageId"`
	} `json:"payload"`
}

// sentMsg is what the fake server sent: the nth generated PRIVMSG.
type sentMsg struct {
	channel string
	n       int
}

// wantUser and wantText are what twitchtest.PrivmsgLine puts in the nth
// message.
func wantUser(n int) string { return "viewer" + strconv.Itoa(n%1000) }
func wantText(n int) string { return "message number " + strconv.Itoa(n) + " Kappa" }

// checkEnvelopes checks that msgs holds every message of sent exactly once,
// with its channel, user, text and id, and nothing else.
func checkEnvelopes(t *testing.T, msgs []storedMsg, sent map[string]sentMsg) {
	t.Helper()
	seen := make(map[string]int, len(msgs))
	bad := 0
	report := func(format string, args ...any) {
		bad++
		if bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, m := range msgs {
		var e envelopeRec
		if err := json.Unmarshal(m.Data, &e); err != nil {
			report("envelope is not JSON: %v: %q", err, m.Data)
			continue
		}
		id := e.Payload.MessageID
		seen[id]++
		s, ok := sent[id]
		if !ok {
			report("envelope for a message that was not sent: %s", m.Data)
			continue
		}
		if m.MsgID != id {
			report("Nats-Msg-Id %q, want the Twitch id %q", m.MsgID, id)
		}
		if e.Source.Platform != "twitch" || e.Source.Channel != s.channel || e.User.Name != wantUser(s.n) || e.Payload.Text != wantText(s.n) {
			report("envelope %s: platform %q channel %q user %q text %q; want twitch %q %q %q",
				id, e.Source.Platform, e.Source.Channel, e.User.Name, e.Payload.Text, s.channel, wantUser(s.n), wantText(s.n))
		}
		if e.Type != "external.chat.message.v1" || e.ID == "" {
			report("envelope %s: type %q id %q", id, e.Type, e.ID)
		}
	}
	for id, n := range seen {
		if n != 1 {
			report("message %s on the bus %d times", id, n)
		}
	}
	missing := 0
	for id := range sent {
		if seen[id] == 0 {
			missing++
			if missing <= 5 {
				report("message %s (%+v) not on the bus", id, sent[id])
			}
		}
	}
	if bad > 20 {
		t.Errorf("… %d problems in all (%d messages sent, %d read, %d missing)", bad, len(sent), len(msgs), missing)
	}
}

// slowProxy forwards TCP connections to target, passing the client's bytes
// on at most bytesPerSec (the server's answers go back at full speed): a
// slow bus. With buffered, the proxy reads everything the client sends at
// once and holds it (a bus slow to store and acknowledge: the client's
// writes never block); without, the client's writes wait for the link (a
// slow network: they block in the kernel).
type slowProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startSlowProxy(t *testing.T, target string, bytesPerSec int, buffered bool) *slowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{ln: ln, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				c.Close()
				s.Close()
				return
			}
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
			go func() {
				defer p.wg.Done()
				src := io.Reader(c)
				if buffered {
					src = p.buffer(c)
				}
				throttledCopy(s, src, bytesPerSec)
				s.Close()
			}()
		}
	}()
	t.Cleanup(p.close)
	return p
}

// buffer reads c as fast as it sends into memory and returns a reader of
// what it read.
func (p *slowProxy) buffer(c net.Conn) io.Reader {
	pr, pw := io.Pipe()
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var queue [][]byte
	eof := false
	p.wg.Add(2)
	go func() { // c → queue
		defer p.wg.Done()
		for {
			b := make([]byte, 32<<10)
			n, err := c.Read(b)
			mu.Lock()
			if n > 0 {
				queue = append(queue, b[:n])
			}
			if err != nil {
				eof = true
			}
			cond.Signal()
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { // queue → pipe
		defer p.wg.Done()
		for {
			mu.Lock()
			for len(queue) == 0 && !eof {
				cond.Wait()
			}
			if len(queue) == 0 {
				mu.Unlock()
				pw.Close()
				return
			}
			b := queue[0]
			queue = queue[1:]
			mu.Unlock()
			if _, err := pw.Write(b); err != nil {
				return
			}
		}
	}()
	go func() { <-p.stop; pr.CloseWithError(io.ErrClosedPipe); pw.CloseWithError(io.ErrClosedPipe) }()
	return pr
}

func (p *slowProxy) addr() string { return p.ln.Addr().String() }

// close stops the proxy and every connection through it at once: what it
// has not forwarded yet is lost.
func (p *slowProxy) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// throttledCopy copies src to dst at most bytesPerSec, until either fails.
func throttledCopy(dst io.Writer, src io.Reader, bytesPerSec int) {
	buf := make([]byte, 4096)
	start := time.Now()
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			total += int64(n)
			due := start.Add(time.Duration(total * int64(time.Second) / int64(bytesPerSec)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		if err != nil {
			return
		}
	}
}

// createIngressStream creates the stream the service publishes to, as the
// platform would.
func createIngressStream(t *testing.T, url, token string) {
	t.Helper()
	opts := []nats.Option{}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "INGRESS", Subjects: []string{"internal.ingress.v1", "internal.finalize.v1"}, Duplicates: 2 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
}

// fakeOAuth serves Twitch's /oauth2/validate on loopback: token is valid
// for login with the chat:read scope. Any other token gets a 401 whose
// message quotes the token back, and /oauth2/token (refresh) a 400 quoting
// the form it got, as a careless server would: the service must not repeat
// either.
func fakeOAuth(t *testing.T, token, login string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/validate", func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "OAuth ")
		w.Header().Set("Content-Type", "application/json")
		if got != token {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"status": 401, "message": "invalid access token " + got})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"client_id": "e2eclient", "login": login, "user_id": "4242",
			"scopes": []string{"chat:read", "chat:edit"}, "expires_in": 3600,
		})
	})
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"status": 400, "message": "bad request: " + r.Form.Encode()})
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// startFakeTwitch starts a fake Twitch server listening on network ("tcp"
// or "ws"), closed by the test's cleanup, and returns it with its URL.
func startFakeTwitch(t *testing.T, cfg twitchtest.Config, network string) (*twitchtest.Server, string) {
	t.Helper()
	fake := twitchtest.NewServer(cfg)
	t.Cleanup(fake.Close)
	url, err := fake.Listen(network)
	if err != nil {
		t.Fatal(err)
	}
	return fake, url
}
