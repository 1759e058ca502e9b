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
// connection, and fails on any lost, duplicated, unexpected or unreported
// line. It guards correctness, not speed: the rate is low and nothing about
// throughput or latency is asserted.
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
}
