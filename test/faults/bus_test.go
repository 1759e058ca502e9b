package faults

// Bus faults: the bus killed, frozen, down longer than the queue holds,
// the Pub/Sub emulator restarted.

import (
	"fmt"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// shortKeepalive is the keepalive of the short versions: an outage of a
// few seconds outlasts it, as 30 s outlast the defaults (15 s + 5 s), so
// the same logic runs (a reader held back by the bus is not a dead
// connection).
func shortKeepalive(env map[string]string) map[string]string {
	if !long {
		env["IRC_PING_INTERVAL"] = "2s"
		env["IRC_PONG_TIMEOUT"] = "1s"
	}
	return env
}

// TestFault01NATSKilled: the external JetStream server is killed (SIGKILL)
// while lines flow, and restarted on its store after the outage. The
// reader waits on the bus meanwhile; no line may be lost while connected
// or missed without a reported gap or stall.
func TestFault01NATSKilled(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(5*time.Second, 30*time.Second), rate()
	s := newScenario(t, "01", "external JetStream SIGKILLed, restarted on its store",
		"lost 0, unreported 0; the reader's stall reported", twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%v down, %.0f lines/s", outage, r)
	ns := harness.StartNATSProcess(t, "")
	harness.CreateIngressStream(t, ns.URL(), "")
	env := shortKeepalive(s.env(map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.URL()}))
	if !long {
		env["PUBLISH_QUEUE"] = "1000" // full after 2 s, as 8192 is after 8 s at 1,000/s
	}
	in := s.start(env, true)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	ns.Kill()
	time.Sleep(outage)
	ns.Start()
	s.faultEnd = time.Now()
	time.Sleep(pick(5*time.Second, 15*time.Second))
	s.stopGen()
	s.settle()
	res := s.check(readJetStream(t, ns.URL(), "", "INGRESS"))
	d := in.mustDebug()
	var stalls uint64
	for _, c := range d.Twitch.Connections {
		stalls += c.Counters.Stalls
	}
	s.fig.Note = fmt.Sprintf("stalls %d, reconnects %d", stalls, d.reconnects())
	if stalls == 0 {
		t.Errorf("no stall counted: the reader was never held back by the bus (make the outage longer)")
	}
	s.pass(res)
}

// TestFault02NATSFrozen: the NATS server is frozen (SIGSTOP) while lines
// flow: its sockets stay open and nothing answers. The hung bus must show
// (/readyz 503 naming the bus, ingress_bus_stalled_seconds), and once it
// resumes nothing is lost. The short version freezes it 12 s, past the
// publisher's stall bound (10 s).
func TestFault02NATSFrozen(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(12*time.Second, 20*time.Second), rate()
	s := newScenario(t, "02", "NATS frozen (SIGSTOP), then resumed",
		"lost 0, unreported 0; /readyz 503 naming the bus while frozen", twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%v frozen, %.0f lines/s", outage, r)
	ns := harness.StartNATSProcess(t, "")
	harness.CreateIngressStream(t, ns.URL(), "")
	env := shortKeepalive(s.env(map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.URL()}))
	if !long {
		env["PUBLISH_QUEUE"] = "1000" // the reader waits on the bus too, as with 8192 after 8 s at 1,000/s
	}
	in := s.start(env, true)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	frozen := time.Now()
	ns.Stop()
	var stalledSeen float64
	var busNamed bool
	deadline := time.Now().Add(outage)
	for time.Now().Before(deadline) {
		if code, body, err := get(in.base+"/readyz", ""); err == nil && code == 503 && containsWord(body, "bus") {
			busNamed = true
		}
		if fams, err := scrape(in.base); err == nil {
			stalledSeen = max(stalledSeen, fams["ingress_bus_stalled_seconds"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	ns.Cont()
	s.faultEnd = time.Now()
	time.Sleep(pick(5*time.Second, 15*time.Second))
	s.stopGen()
	s.settle()
	res := s.check(readJetStream(t, ns.URL(), "", "INGRESS"))
	s.fig.Note = fmt.Sprintf("bus stalled up to %.1f s; /readyz 503 naming the bus: %v", stalledSeen, busNamed)
	if !busNamed || !in.mon.notReadyBetween(frozen, s.faultEnd) {
		t.Errorf("/readyz never answered 503 naming the bus while NATS was frozen for %v", outage)
	}
	if stalledSeen <= 0 {
		t.Errorf("ingress_bus_stalled_seconds stayed 0 while NATS was frozen for %v", outage)
	}
	s.pass(res)
}

// TestFault03BusDownSlowReaderDropped: the bus is down longer than the
// publisher's queue holds; the reader waits, and the fake server drops the
// connection whose queue passes a bound, as Twitch drops slow readers.
// What was written to the dropped connection and never read must lie in a
// reported gap, which starts when reading stopped.
func TestFault03BusDownSlowReaderDropped(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(15*time.Second, 60*time.Second), rate()
	s := newScenario(t, "03", "bus down longer than the queue holds; the server drops the slow reader",
		"lost 0, unreported 0; the gap starts when reading stopped",
		twitchtest.Config{DropQueue: 2000, SendBuffer: 64 << 10}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%v down, queue 1000, drop past 2000 queued lines, %.0f lines/s", outage, r)
	ns := harness.StartNATSProcess(t, "")
	harness.CreateIngressStream(t, ns.URL(), "")
	in := s.start(shortKeepalive(s.env(map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.URL(), "PUBLISH_QUEUE": "1000"})), true)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	ns.Kill()
	time.Sleep(outage)
	ns.Start()
	s.faultEnd = time.Now()
	time.Sleep(pick(5*time.Second, 15*time.Second))
	s.stopGen()
	s.settle()
	res := s.check(readJetStream(t, ns.URL(), "", "INGRESS"))
	d := in.mustDebug()
	drops := s.fake.Stats().SlowDrops
	s.fig.Note = fmt.Sprintf("dropped as a slow reader %d×, reconnects %d", drops, d.reconnects())
	if drops == 0 {
		t.Errorf("the fake server never dropped the reader: the outage did not outlast the buffers")
	}
	s.pass(res)
}

// TestFault04PubSubRestarted: the Pub/Sub emulator stops and starts again
// (empty: the checker makes the topic and its subscription again before
// the service can reach it, through a proxy that refuses connections
// meanwhile).
func TestFault04PubSubRestarted(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(5*time.Second, 30*time.Second), rate()
	s := newScenario(t, "04", "Pub/Sub emulator stopped, restarted",
		"lost 0, unreported 0 (duplicates allowed: Pub/Sub does not deduplicate)", twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%v down (and the emulator's start), %.0f lines/s", outage, r)
	emu := harness.StartPubSubEmulator(t)
	reader := newPubSubReader(t, emu.Addr())
	proxy := harness.StartFaultProxy(t, emu.Addr())
	in := s.start(shortKeepalive(s.env(map[string]string{
		"MESSAGE_BUS_DRIVER": "pubsub", "PUBSUB_PROJECT_ID": pubsubProject, "PUBSUB_EMULATOR_HOST": proxy.Addr(),
		"PUBSUB_CREATE_TOPICS": "true",
	})), true)
	s.startGen(r)
	time.Sleep(3 * time.Second)
	proxy.Down()
	// What the emulator acknowledged must reach the checker before the
	// emulator forgets it.
	harness.WaitFor(t, 30*time.Second, 50*time.Millisecond, "the checker has every acknowledged message", func() (bool, string) {
		d, err := in.debug()
		if err != nil {
			return false, err.Error()
		}
		n := reader.Count()
		return uint64(n) >= d.Bus.Acked, fmt.Sprintf("%d received, %d acknowledged", n, d.Bus.Acked)
	})
	reader.Stop() // before its emulator goes away
	emu.Stop()
	time.Sleep(outage)
	emu.Start()
	reader.Reconnect(emu.Addr())
	proxy.Up(emu.Addr())
	s.faultEnd = time.Now()
	time.Sleep(pick(5*time.Second, 15*time.Second))
	s.stopGen()
	s.settle()
	harness.WaitFor(t, 30*time.Second, 50*time.Millisecond, "the checker has every acknowledged message", func() (bool, string) {
		d, err := in.debug()
		if err != nil {
			return false, err.Error()
		}
		n := reader.Count()
		return uint64(n) >= d.Bus.Acked, fmt.Sprintf("%d received, %d acknowledged", n, d.Bus.Acked)
	})
	reader.Stop()
	res := s.check(reader.Received())
	d := in.mustDebug()
	s.fig.Note = fmt.Sprintf("acked %d, failure events %d, lost %d", d.Bus.Acked, d.Bus.Failures, d.Bus.Lost)
	s.pass(res)
}
