package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bench/consumer"
	"github.com/ingress-egress/ingress-egress/bench/loss"
)

const (
	subject    = "internal.ingress.v1"
	streamName = "INGRESS"
)

// smokeLines is how many PRIVMSGs a smoke run sends: 300, or
// PEER_SMOKE_LINES (at most 1,000,000) for a rough local load run.
var smokeLines = func() int {
	if n, err := strconv.Atoi(os.Getenv("PEER_SMOKE_LINES")); err == nil && n > 0 {
		return min(n, 1_000_000)
	}
	return 300
}()

var smokeChannels = []string{"alpha", "bravo", "charlie"}

// skipOrFail skips a test whose tool is missing, or fails it under
// REQUIRE_INTEGRATION=1.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("REQUIRE_INTEGRATION") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func TestGoPeer(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		skipOrFail(t, "go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "gopeer")
	build := exec.Command(goBin, "build", "-o", bin, "./gopeer")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./gopeer: %v\n%s", err, out)
	}
	for _, js := range []bool{false, true} {
		t.Run(mode(js), func(t *testing.T) {
			smoke(t, js, func(ircAddr, natsURL string) *exec.Cmd {
				args := []string{"--irc", ircAddr, "--channels", strings.Join(smokeChannels, ","), "--connections", "2", "--nats", natsURL}
				if js {
					args = append(args, "--jetstream", "--stream", streamName)
				}
				return exec.Command(bin, args...)
			})
		})
	}
}

var npmOnce sync.Once
var npmErr error

func TestTwurplePeer(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node not found: %v", err)
	}
	npmOnce.Do(func() { npmErr = npmCI("twurple") })
	if npmErr != nil {
		skipOrFail(t, "npm ci in bench/peers/twurple: %v", npmErr)
	}
	for _, js := range []bool{false, true} {
		t.Run(mode(js), func(t *testing.T) {
			smoke(t, js, func(ircAddr, natsURL string) *exec.Cmd {
				args := []string{"peer.js", "--irc", ircAddr, "--channels", strings.Join(smokeChannels, ","), "--connections", "2", "--nats", natsURL}
				if js {
					args = append(args, "--jetstream", "--stream", streamName)
				}
				cmd := exec.Command(node, args...)
				cmd.Dir = "twurple"
				return cmd
			})
		})
	}
}

// npmCI installs the locked dependencies into dir/node_modules unless npm's
// own record of the install there is newer than the lock file.
func npmCI(dir string) error {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err
	}
	if inst, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil && inst.ModTime().After(lock.ModTime()) {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

func mode(js bool) string {
	if js {
		return "jetstream"
	}
	return "core"
}

// summary is the JSON line a peer prints at exit.
type summary struct {
	Peer       string `json:"peer"`
	Mode       string `json:"mode"`
	Received   int    `json:"received"`
	Published  int    `json:"published"`
	Duplicates int    `json:"duplicates"`
	Errors     int    `json:"errors"`
}

// smoke runs one peer end to end: nats-server, consumer, IRC server, the peer
// process, smokeLines PRIVMSGs, and the checks.
func smoke(t *testing.T, js bool, peerCmd func(ircAddr, natsURL string) *exec.Cmd) {
	ctx := t.Context()
	natsURL, nc := startNATS(t)
	if js {
		jsc, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jsc.CreateStream(ctx, jetstream.StreamConfig{Name: streamName, Subjects: []string{subject}, Duplicates: 2 * time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	// Every envelope body, for the shape checks (a core subscription sees
	// JetStream publishes too).
	var bodiesMu sync.Mutex
	var bodies [][]byte
	raw, err := nc.Subscribe(subject, func(m *nats.Msg) {
		bodiesMu.Lock()
		bodies = append(bodies, m.Data)
		bodiesMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Unsubscribe()

	chk := loss.NewChecker(loss.Options{})
	var last time.Time // of the last receipt; written one call at a time, read after Wait
	copts := consumer.Options{Subject: subject, Count: smokeLines, Idle: 15 * time.Second, Timeout: 2 * time.Minute, Validate: true,
		OnEnvelope: func(r loss.Received) {
			chk.Received(r)
			if r.At.After(last) {
				last = r.At
			}
		}}
	if js {
		copts.Stream = streamName
	}
	cons, err := consumer.Start(ctx, nc, copts)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Stop()

	irc := startIRC(t)
	p := startProc(t, peerCmd(irc.addr(), natsURL))
	if err := irc.waitJoined(smokeChannels, 90*time.Second, p.exited); err != nil {
		t.Fatalf("%v\npeer stderr:\n%s", err, p.stderr.String())
	}
	start := time.Now()
	lines, err := irc.sendChat(smokeLines, smokeChannels, chk)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cons.Wait()
	if err != nil {
		t.Errorf("consumer: %v (result %+v)", err, res)
	}
	sum := p.stop(t)

	got := chk.Result()
	if !got.OK() || got.Delivered != smokeLines {
		t.Errorf("loss check: %+v; want all %d delivered exactly once", got, smokeLines)
	}
	wantSum := summary{Peer: sum.Peer, Mode: mode(js), Received: smokeLines, Published: smokeLines}
	if sum != wantSum {
		t.Errorf("peer summary = %+v, want %+v", sum, wantSum)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	bodiesMu.Lock()
	defer bodiesMu.Unlock()
	if len(bodies) != smokeLines {
		t.Errorf("raw subscription saw %d envelopes, want %d", len(bodies), smokeLines)
	}
	for _, b := range bodies {
		if err := checkEnvelope(b, lines); err != nil {
			t.Errorf("envelope %s: %v", b, err)
			break
		}
	}
	t.Logf("%s %s: %d lines, %.0f lines/s first send → last receipt; latency p50 %v p99 %v max %v",
		sum.Peer, sum.Mode, smokeLines, float64(smokeLines)/last.Sub(start).Seconds(), got.Latency.P50, got.Latency.P99, got.Latency.Max)
}

// checkEnvelope checks an envelope's shape (the seed's §13 keys, exactly) and
// its values against the line the server sent.
func checkEnvelope(body []byte, lines map[string]chatLine) error {
	var env struct {
		V, ID, CorrelationID, TraceID, Timestamp, Type string
		FinalizationDestination                        string
		RoutingSlip                                    []string
		Source                                         struct{ Platform, Channel, ChannelID string }
		User                                           struct{ ID, Name, DisplayName string }
		Payload                                        struct {
			Text, MessageID, Color string
			Badges                 []string
			IsMod, IsSubscriber    bool
			Emotes                 []struct {
				ID, Name   string
				Start, End int
			}
			Raw struct{ Tags map[string]string }
		}
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return err
	}
	var keys struct {
		Top     map[string]json.RawMessage
		Payload map[string]json.RawMessage `json:"payload"`
	}
	_ = json.Unmarshal(body, &keys.Top)
	_ = json.Unmarshal(body, &keys)
	wantTop := []string{"correlationId", "finalizationDestination", "id", "payload", "routingSlip", "source", "timestamp", "traceId", "type", "user", "v"}
	if got := slices.Sorted(maps.Keys(keys.Top)); !slices.Equal(got, wantTop) {
		return fmt.Errorf("top-level keys %q, want %q", got, wantTop)
	}
	wantPayload := []string{"badges", "color", "emotes", "isMod", "isSubscriber", "messageId", "raw", "text"}
	if got := slices.Sorted(maps.Keys(keys.Payload)); !slices.Equal(got, wantPayload) {
		return fmt.Errorf("payload keys %q, want %q", got, wantPayload)
	}
	l, ok := lines[env.Payload.MessageID]
	if !ok {
		return fmt.Errorf("messageId %q was never sent", env.Payload.MessageID)
	}
	wantEmotes := 1
	if l.emoji {
		wantEmotes = 2
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"v", env.V == "1"},
		{"ids", len(env.ID) == 36 && env.CorrelationID == env.ID && len(env.TraceID) == 36 && env.TraceID != env.ID},
		{"timestamp", len(env.Timestamp) == len("2025-11-21T17:02:00.000Z") && strings.HasSuffix(env.Timestamp, "Z")},
		{"type", env.Type == "external.chat.message.v1"},
		{"finalizationDestination", env.FinalizationDestination == "internal.finalizer.v1"},
		{"routingSlip", env.RoutingSlip != nil && len(env.RoutingSlip) == 0},
		{"source", env.Source.Platform == "twitch" && env.Source.Channel == l.channel && env.Source.ChannelID == fmt.Sprint(roomID(l.channel))},
		{"user", env.User.Name == l.login && strings.EqualFold(env.User.DisplayName, l.login) && env.User.ID != ""},
		{"text", env.Payload.Text == l.text},
		{"badges", slices.Contains(env.Payload.Badges, "subscriber") && slices.Contains(env.Payload.Badges, "premium")},
		{"flags", env.Payload.IsSubscriber && !env.Payload.IsMod && env.Payload.Color == "#1E90FF"},
		{"emotes", len(env.Payload.Emotes) == wantEmotes && env.Payload.Emotes[0].Name == "Kappa" && env.Payload.Emotes[wantEmotes-1].Name == "Kappa" && env.Payload.Emotes[0].ID == "25"},
		{"raw.tags", env.Payload.Raw.Tags["id"] == l.id && strings.HasPrefix(env.Payload.Raw.Tags["client-nonce"], "n ")},
	}
	for _, c := range checks {
		if !c.ok {
			return fmt.Errorf("%s is wrong for line %+v", c.what, l)
		}
	}
	return nil
}

// startNATS runs an in-process nats-server with JetStream on 127.0.0.1,
// stopped when the test ends.
func startNATS(t *testing.T) (string, *nats.Conn) {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return s.ClientURL(), nc
}

// proc is a peer process; the test kills it at the end if it still runs.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan struct{}
	err            error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// stop sends SIGTERM, waits (bounded) for the exit, and returns the summary.
func (p *proc) stop(t *testing.T) summary {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("peer did not exit within 60s of SIGTERM\nstderr:\n%s", p.stderr.String())
	}
	if p.err != nil {
		t.Errorf("peer exit: %v\nstderr:\n%s", p.err, p.stderr.String())
	}
	out := strings.TrimSpace(p.stdout.String())
	last := out[strings.LastIndexByte(out, '\n')+1:]
	var s summary
	if err := json.Unmarshal([]byte(last), &s); err != nil {
		t.Fatalf("peer summary %q: %v\nstderr:\n%s", last, err, p.stderr.String())
	}
	return s
}
