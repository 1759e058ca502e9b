package load

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCI runs the service binary against the fake server and an in-process
// nats-server, through JetStream, core NATS and the service's embedded bus,
// for a couple of seconds each with a few channels over more than one
// connection (and the floor through core NATS), and fails on any lost, duplicated, unexpected or unreported
// line. It guards correctness, not speed: the rate is low and nothing about
// throughput or latency is asserted. Its scale subtest is the CI-sized
// version of the 100,000-channel run (bench/cmd/load -scenarios hundredk).
func TestCI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service")
	}
	dir := t.TempDir()
	bin, err := Build("../..", ".", filepath.Join(dir, "ingress-egress"))
	if err != nil {
		t.Fatal(err)
	}
	bus, err := StartBus(filepath.Join(dir, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Stop)

	for _, mode := range []string{"jetstream", "core", "embedded"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var log *os.File
			if testing.Verbose() {
				log = os.Stderr
			}
			cfg := Config{Target: Ours, Bus: mode, Channels: 7, ChannelsPerConn: 3, Rate: 2000,
				Duration: 1500 * time.Millisecond, NATSURL: bus.URL, Service: bin, Dir: t.TempDir(),
				Drain: 3 * time.Second, JoinTimeout: 20 * time.Second}
			if log != nil {
				cfg.Log = log
			}
			r, err := Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.Connections != 3 {
				t.Errorf("connections = %d, want 3", r.Connections)
			}
			if r.Sent < 1000 || r.SentConnected != r.Sent {
				t.Errorf("sent %d lines, %d to a joined client; want ≥ 1000, all joined", r.Sent, r.SentConnected)
			}
			c := r.Check
			if !r.OK() {
				t.Errorf("run not OK: %s\nlost %v, duplicated %v, unexpected %v, unreported %v",
					Summary(&r), c.LostIDs, c.DuplicatedIDs, c.UnexpectedIDs, c.UnreportedIDs)
			}
			if c.Delivered != int(r.Sent) || c.Received != int(r.Sent) {
				t.Errorf("delivered %d, envelopes read %d; want %d each", c.Delivered, c.Received, r.Sent)
			}
			if r.Received != r.Sent || r.Published != r.Sent {
				t.Errorf("service says received %d, published %d; want %d each", r.Received, r.Published, r.Sent)
			}
			if c.Latency.N != int(r.Sent) || c.Latency.P50 <= 0 {
				t.Errorf("latency over %d lines, p50 %v; want %d lines, p50 > 0", c.Latency.N, c.Latency.P50, r.Sent)
			}
		})
	}
	t.Run("floor", func(t *testing.T) { testFloor(t, dir, bus.URL) })
	t.Run("scale", func(t *testing.T) { testScale(t, bin, bus.URL) })
}

// testFloor runs the floor (bench/peers/floor) as the harness runs it:
// core NATS, 7 channels over 3 connections at 2,000 lines/s for 1.5 s. It
// fails on any line lost or duplicated, a body whose message id the
// consumer does not know, or a summary that does not add up.
func testFloor(t *testing.T, dir, natsURL string) {
	bin, err := Build("..", "./peers/floor", filepath.Join(dir, "floor"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{Target: Floor, Bus: "core", Channels: 7, ChannelsPerConn: 3, Rate: 2000,
		Duration: 1500 * time.Millisecond, NATSURL: natsURL, Floor: bin, Dir: t.TempDir(),
		Drain: 3 * time.Second, JoinTimeout: 20 * time.Second}
	if testing.Verbose() {
		cfg.Log = os.Stderr
	}
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Check
	if !r.OK() || r.Connections != 3 || r.Sent < 1000 || r.SentConnected != r.Sent || c.Delivered != int(r.Sent) {
		t.Errorf("run not OK: %s\n%d connections (want 3); lost %v, duplicated %v, unexpected %v, unreported %v",
			Summary(&r), r.Connections, c.LostIDs, c.DuplicatedIDs, c.UnexpectedIDs, c.UnreportedIDs)
	}
	if r.Received != r.Sent || r.Published != r.Sent || r.Errors != 0 {
		t.Errorf("the floor says received %d, published %d, %d errors; want %d, %d, 0", r.Received, r.Published, r.Errors, r.Sent, r.Sent)
	}
	// Its bodies have the envelope's size: 1.5 … 6 × a corpus line
	// (~300 … 600 bytes), never the bare id.
	if r.EnvelopeBytes < 400 {
		t.Errorf("a body of %d bytes; want an envelope's size", r.EnvelopeBytes)
	}
	if _, err := Run(ctx, Config{Target: Floor, Bus: "outbox", NATSURL: natsURL, Floor: bin, Dir: t.TempDir()}); err == nil {
		t.Error("the floor ran on the outbox bus (the service's own); want an error")
	}
}

// testScale is the 100,000-channel run scaled down for CI: 5,000 channels
// over 56 connections (90 each, the service's default), given through POST
// /_admin/channels as the full run must (the list would not fit in
// TWITCH_CHANNELS there), the fake server enforcing a per-identity JOIN
// limit, 5,000 lines/s spread over every channel for 3 s through core NATS,
// then a restart of the service and every channel joined again. It fails on
// any line lost or duplicated, a channel not joined, or a login over the
// JOIN limit.
//
// The service's join and connect rates are raised here (TWITCH_JOIN_RATE
// 100 per 10 s, TWITCH_CONNECT_RATE 50/s, against its defaults of 20 and
// 5) so that joining takes seconds instead of a minute; the fake server
// enforces the same 100 JOINs per 10 s per login, and the test asserts
// that no login went over it. The full run keeps the defaults.
func testScale(t *testing.T, bin, natsURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := Config{Scenario: "ci-scale", Target: Ours, Bus: "core", Channels: 5000, Rate: 5000, Duration: 3 * time.Second,
		JoinRate: 100, ConnectRate: 50, ServerJoinLimit: 100, PostChannels: true, Restart: true,
		NATSURL: natsURL, Service: bin, Dir: t.TempDir(), Drain: 5 * time.Second, JoinTimeout: 90 * time.Second}
	if testing.Verbose() {
		cfg.Log = os.Stderr
	}
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Check
	if !r.OK() {
		t.Errorf("run not OK: %s\nlost %v, duplicated %v, unexpected %v, unreported %v",
			Summary(&r), c.LostIDs, c.DuplicatedIDs, c.UnexpectedIDs, c.UnreportedIDs)
	}
	if r.Connections != 56 || r.Sent < 5000 || r.SentConnected != r.Sent || c.Delivered != int(r.Sent) || c.Lost != 0 || c.Duplicated != 0 {
		t.Errorf("%d connections; sent %d, %d to a joined client, delivered %d, lost %d, duplicated %d; want 56 connections, ≥ 5000 sent, all joined and delivered once",
			r.Connections, r.Sent, r.SentConnected, c.Delivered, c.Lost, c.Duplicated)
	}
	if r.Received != r.Sent || r.Published != r.Sent {
		t.Errorf("service says received %d, published %d; want %d each", r.Received, r.Published, r.Sent)
	}
	// Every channel joined twice (before and after the restart: Run fails
	// otherwise), one login per connection each time, none over the limit.
	if r.JoinSeconds <= 0 || r.RejoinSeconds <= 0 || r.Logins < 2*56 {
		t.Errorf("joined in %.1f s, rejoined in %.1f s, %d logins; want both > 0, ≥ 112 logins", r.JoinSeconds, r.RejoinSeconds, r.Logins)
	}
	if r.JoinKicks != 0 || r.MaxWindowJoins <= 0 || r.MaxWindowJoins > cfg.ServerJoinLimit {
		t.Errorf("the fake server dropped %d clients over the JOIN limit; most JOINs by one login in 10 s: %d; want 0 dropped, 1 … %d",
			r.JoinKicks, r.MaxWindowJoins, cfg.ServerJoinLimit)
	}
}
