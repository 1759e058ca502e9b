package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// TestE2EOutboxOutageAndKill runs the binary with the nats driver and its
// default outbox: the external JetStream stops while chat keeps coming; the
// service stays ready (the outbox stores), says the remote is degraded in
// /_debug and /metrics, and is then killed with SIGKILL. Restarted on the
// same DATA_DIR with the bus back, it forwards everything: every message
// sent is on the stream exactly once; a second process on that DATA_DIR
// refuses to start.
func TestE2EOutboxOutageAndKill(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	natsPort, natsDir := harness.FreePort(t), t.TempDir()
	natsOpts := func() *server.Options {
		return &server.Options{Host: "127.0.0.1", Port: natsPort, JetStream: true, StoreDir: natsDir, NoLog: true, NoSigs: true}
	}
	ns := harness.RunNATS(t, natsOpts())
	harness.CreateIngressStream(t, ns.ClientURL(), "")
	fake, ircURL := harness.StartFakeTwitch(t, twitchtest.Config{}, "tcp")
	channels := []string{"one", "two", "three"}
	dataDir := t.TempDir()
	env := map[string]string{
		"MESSAGE_BUS_DRIVER": "nats",
		"NATS_URL":           ns.ClientURL(),
		"DATA_DIR":           dataDir,
		"TWITCH_IRC_URL":     ircURL,
		"TWITCH_CHANNELS":    strings.Join(channels, ","),
		"PORT":               "0",
	}
	p := harness.Start(t, env)
	base := p.HTTPBase()
	harness.WaitFor(t, 15*time.Second, 10*time.Millisecond, "/readyz 200", func() (bool, string) {
		code, body := harness.Readyz(t, base)
		return code == http.StatusOK, strconv.Itoa(code) + " " + body
	})
	sent := map[string]harness.Sent{}
	const before, during = 2000, 3000
	harness.Generate(t, fake, channels, before, sent)
	forwarded := func() float64 {
		return harness.Metric(t, harness.Metrics(t, base), "ingress_outbox_forwarded_total", "")
	}
	harness.WaitFor(t, 30*time.Second, 20*time.Millisecond, "the first messages forwarded", func() (bool, string) {
		n := forwarded()
		return n == before, strconv.FormatFloat(n, 'f', 0, 64) + " forwarded"
	})

	// The outage: the service keeps reading and storing.
	ns.Shutdown()
	ns.WaitForShutdown()
	harness.Generate(t, fake, channels, during, sent)
	harness.WaitAcked(t, base, "", before+during)
	harness.WaitFor(t, 15*time.Second, 20*time.Millisecond, "the remote reported degraded", func() (bool, string) {
		r := harness.Field(harness.DebugMap(t, base, ""), "outbox", "remote")
		return r == "degraded", "outbox.remote " + strings.TrimSpace(strconv.Quote(toString(r)))
	})
	if code, body := harness.Readyz(t, base); code != http.StatusOK {
		t.Errorf("/readyz with the remote down: %d %s, want 200 (the outbox does the job)", code, body)
	}
	fams := harness.Metrics(t, base)
	if n := harness.Metric(t, fams, "ingress_outbox_messages", ""); n < during {
		t.Errorf("ingress_outbox_messages = %v during the outage, want ≥ %d", n, during)
	}
	if up := harness.Metric(t, fams, "ingress_outbox_remote_up", ""); up != 0 {
		t.Errorf("ingress_outbox_remote_up = %v during the outage, want 0", up)
	}
	if age := harness.Metric(t, fams, "ingress_outbox_oldest_age_seconds", ""); age <= 0 {
		t.Errorf("ingress_outbox_oldest_age_seconds = %v during the outage, want > 0", age)
	}

	// SIGKILL, the bus back, the service again on the same DATA_DIR.
	p.Signal(syscall.SIGKILL)
	if _, ok := p.Wait(10 * time.Second); !ok {
		t.Fatal("the service did not die of SIGKILL")
	}
	ns = harness.RunNATS(t, natsOpts())
	p = harness.Start(t, env)
	base = p.HTTPBase()
	harness.WaitFor(t, 60*time.Second, 50*time.Millisecond, "the outbox emptied", func() (bool, string) {
		fams := harness.Metrics(t, base)
		n := harness.Metric(t, fams, "ingress_outbox_messages", "")
		rec := harness.Metric(t, fams, "ingress_outbox_recovered_total", "")
		return n == 0 && rec > 0, "outbox messages " + strconv.FormatFloat(n, 'f', 0, 64) + ", recovered " + strconv.FormatFloat(rec, 'f', 0, 64)
	})
	if lost := harness.Metric(t, harness.Metrics(t, base), "ingress_outbox_recovery_lost_records_total", ""); lost != 0 {
		t.Errorf("ingress_outbox_recovery_lost_records_total = %v after a SIGKILL, want 0 (the kernel had every write)", lost)
	}
	// A second process on the same DATA_DIR refuses to start.
	second := harness.Start(t, env)
	if code, ok := second.Wait(15 * time.Second); !ok || code == 0 || !strings.Contains(second.Stderr(), "in use by another process") {
		t.Errorf("a second process on the DATA_DIR: exited %v with code %d; want a refusal naming the lock:\n%s", ok, code, harness.Tail(second.Stderr(), 2000))
	}
	p.Signal(syscall.SIGTERM)
	if code, ok := p.Wait(10 * time.Second); !ok || code != 0 {
		t.Errorf("after SIGTERM: exited %v with code %d", ok, code)
	}
	harness.CheckEnvelopes(t, harness.ReadStream(t, ns.ClientURL(), "", "INGRESS", "internal.ingress.v1", 30*time.Second), sent)
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}
