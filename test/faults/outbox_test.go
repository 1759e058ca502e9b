package faults

// Outbox faults: the remote bus down behind the durable outbox (external
// JetStream killed, the Pub/Sub emulator stopped), and the outbox full
// while the chat server drops the slow reader.

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// outboxEnv is the service's environment with the outbox on disk under a
// DATA_DIR of its own, in front of the remote bus settings of bus.
func (s *scenario) outboxEnv(bus map[string]string) map[string]string {
	return s.env(merge(bus, map[string]string{"OUTBOX": "disk", "DATA_DIR": s.t.TempDir()}))
}

// readerStalls adds up the stalls every connection counted.
func (d *debugSnap) readerStalls() uint64 {
	var n uint64
	for _, c := range d.Twitch.Connections {
		n += c.Counters.Stalls
	}
	return n
}

// orderBroken counts the channels' order violations of received (in the
// order the bus holds them) against the order the fake server wrote the
// lines: within a channel, each line's first copy on the bus must come
// after the first copy of every line written before it. It returns the
// count and an example.
func orderBroken(sent []twitchtest.Record, received []Received) (int, string) {
	type place struct {
		channel string
		n       int
	}
	at := map[string]place{}
	for i, r := range sent {
		if _, ok := at[r.ID]; !ok {
			at[r.ID] = place{r.Channel, i}
		}
	}
	last := map[string]int{}
	lastID := map[string]string{}
	seen := map[string]bool{}
	broken, example := 0, ""
	for _, m := range received {
		p, ok := at[m.ID]
		if !ok || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		if prev, ok := last[p.channel]; ok && p.n < prev {
			broken++
			if example == "" {
				example = fmt.Sprintf("#%s: %s (written %d) after %s (written %d)", p.channel, m.ID, p.n, lastID[p.channel], prev)
			}
			continue
		}
		last[p.channel], lastID[p.channel] = p.n, m.ID
	}
	return broken, example
}

// TestFault18OutboxNATSDown: the external JetStream is killed for a long
// outage (10 minutes at 1,000 lines/s in the long version) with the outbox
// on. The outbox spools on disk: the reader never waits (no stall, no gap,
// no reconnect), every line written during the outage is stored on the
// stream after the restart, nothing is lost or stored twice, each
// channel's order is kept, and the service's peak RSS stays far below what
// the spooled messages would take in memory. FAULTS_OUTAGE (a duration)
// sets another outage, to look at the figures in between.
func TestFault18OutboxNATSDown(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(20*time.Second, 10*time.Minute), rate()
	if d, err := time.ParseDuration(os.Getenv("FAULTS_OUTAGE")); err == nil {
		outage = d
	}
	s := newScenario(t, "18", "external JetStream SIGKILLed for a long outage, the outbox on",
		"no stall, no gap; every line of the outage spooled and delivered after the restart; lost 0, dup 0, order kept; peak RSS bounded",
		twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%v down, %.0f lines/s", outage, r)
	ns := harness.StartNATSProcess(t, "")
	// A re-send of a message whose acknowledgement the kill lost must be
	// dropped by the stream after the whole outage.
	harness.CreateIngressStreamWindow(t, ns.URL(), "", outage+5*time.Minute)
	in := s.start(s.outboxEnv(map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.URL()}), true)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	before := in.mustDebug()
	killed := time.Now()
	ns.Kill()
	var peak outboxSnap
	for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if d, err := in.debug(); err == nil && d.Outbox != nil && d.Outbox.Messages >= peak.Messages {
			peak = *d.Outbox
		}
	}
	atRestart := in.mustDebug()
	hwm := int64(0)
	if st, ok := harness.ReadProcStatus(in.p.Pid()); ok {
		hwm = st.HWM
	}
	hwmOutage := hwm
	var heapOutage float64
	if fams, err := scrape(in.base); err == nil {
		heapOutage = fams["go_heap_live_bytes"]
	}
	restarted := time.Now()
	ns.Start()
	s.faultEnd = time.Now()
	time.Sleep(pick(5*time.Second, 15*time.Second))
	s.stopGen()
	s.settle()
	received := readJetStream(t, ns.URL(), "", "INGRESS")
	res := s.check(received)
	after := in.mustDebug()
	if st, ok := harness.ReadProcStatus(in.p.Pid()); ok {
		hwm = max(hwm, st.HWM)
	}

	// Every line written during the outage went through the spool: the
	// stream stored it after the restart.
	storedAt := map[string]time.Time{}
	for _, m := range received {
		if _, ok := storedAt[m.ID]; !ok {
			storedAt[m.ID] = m.Stored
		}
	}
	duringOutage, notSpooled := 0, 0
	for _, l := range s.fake.Records(0) {
		if l.At.Before(killed) || !l.At.Before(restarted) {
			continue
		}
		duringOutage++
		if at, ok := storedAt[l.ID]; !ok || at.Before(restarted) {
			notSpooled++
		}
	}
	// The store connection's errors (a slow consumer on the forwarder's
	// ordered consumer at the start of the backlog: it resumes after the
	// last record it gave) are logged records, not stderr text.
	connErrs := 0
	for _, rec := range in.p.Logs() {
		if rec["message"] == "outbox: store connection error" {
			connErrs++
		}
	}
	broken, example := orderBroken(s.fake.Records(0), received)
	s.fig.Note = fmt.Sprintf("spooled %d messages (%d MiB on disk, oldest %.0f s) for %d lines written in the outage; peak RSS (VmHWM) %d MiB in the outage (live heap %d MiB), %d MiB after the backlog; "+
		"stalls %d, gaps %d, reconnects %d; order violations %d; store connection warnings %d",
		atRestart.outboxMessages(), atRestart.outboxBytes()>>20, atRestart.outboxAge(), duringOutage, hwmOutage>>20, int64(heapOutage)>>20, hwm>>20,
		after.readerStalls()-before.readerStalls(), after.Twitch.Gaps-before.Twitch.Gaps, after.reconnects()-before.reconnects(), broken, connErrs)

	if atRestart.Outbox == nil {
		t.Fatal("/_debug/twitch has no outbox: the outbox is off")
	}
	if n := after.readerStalls() - before.readerStalls(); n != 0 {
		t.Errorf("the reader stalled %d times during the outage: the outbox did not absorb it", n)
	}
	if n := after.Twitch.Gaps - before.Twitch.Gaps; n != 0 {
		t.Errorf("%d gaps reported during the outage", n)
	}
	if n := after.reconnects() - before.reconnects(); n != 0 {
		t.Errorf("%d reconnects to the chat server during the outage", n)
	}
	if res.InGap != 0 || s.fig.StallSeconds != 0 {
		t.Errorf("%d lines inside reported gaps, %.1f s of reported stalls: want none", res.InGap, s.fig.StallSeconds)
	}
	if duringOutage == 0 || notSpooled != 0 {
		t.Errorf("%d of the %d lines written during the outage were not stored on the stream after the restart", notSpooled, duringOutage)
	}
	if atRestart.Outbox.Messages == 0 || atRestart.Outbox.Remote != "degraded" {
		t.Errorf("at the end of the outage the outbox held %d messages, remote %q; want the outage's lines, degraded",
			atRestart.Outbox.Messages, atRestart.Outbox.Remote)
	}
	if res.Delivered != res.Sent || res.Duplicated != 0 {
		t.Errorf("delivered %d of %d sent, %d duplicated on the stream; want all, once", res.Delivered, res.Sent, res.Duplicated)
	}
	if broken != 0 {
		t.Errorf("%d lines out of their channel's order on the stream, e.g. %s", broken, example)
	}
	if after.Outbox == nil || after.Outbox.Messages != 0 || after.Outbox.Lost != 0 {
		t.Errorf("after recovery the outbox holds %d messages and lost %d; want 0 and 0", after.outboxMessages(), after.outboxLost())
	}
	// The bounds. Through the outage the peak stays within 192 MiB of the
	// memory the service had before it (the store's buffers; the race
	// detector's shadow memory doubles the service's), and — when the
	// spool is large (the long version: 10 minutes of chat, hundreds of
	// MiB) — below a quarter of what the spool holds, which memory could
	// not hold. Draining the backlog (the forwarder's read-ahead, the
	// remote's send window, the store's block cache, garbage) may take it
	// higher, within 512 MiB of the start.
	rssBefore, _, _ := in.mon.rssFigures()
	if hwmOutage == 0 || hwmOutage > rssBefore+192<<20 {
		t.Errorf("peak RSS (VmHWM) %d MiB during the outage, more than 192 MiB above the %d MiB before it", hwmOutage>>20, rssBefore>>20)
	}
	if spooled := int64(peak.Bytes); spooled >= 256<<20 && hwmOutage >= spooled/4 {
		t.Errorf("peak RSS (VmHWM) %d MiB during the outage with %d MiB spooled: the spool is in memory", hwmOutage>>20, spooled>>20)
	}
	if hwm > rssBefore+512<<20 {
		t.Errorf("peak RSS (VmHWM) %d MiB draining the backlog, more than 512 MiB above the %d MiB before the outage", hwm>>20, rssBefore>>20)
	}
	s.pass(res)
}

func (d *debugSnap) outboxMessages() uint64 {
	if d.Outbox == nil {
		return 0
	}
	return d.Outbox.Messages
}

func (d *debugSnap) outboxBytes() uint64 {
	if d.Outbox == nil {
		return 0
	}
	return d.Outbox.Bytes
}

func (d *debugSnap) outboxAge() float64 {
	if d.Outbox == nil {
		return 0
	}
	return d.Outbox.OldestAge
}

func (d *debugSnap) outboxLost() uint64 {
	if d.Outbox == nil {
		return 0
	}
	return d.Outbox.Lost
}

// TestFault19OutboxPubSubRestarted: the Pub/Sub emulator stops and starts
// again (empty: the checker makes the topic and its subscription again
// before the service can reach it, through a proxy that refuses
// connections meanwhile) with the outbox on. The outbox spools the outage
// on disk: no stall, no gap; after the restart everything is delivered,
// duplicates only as copies with the same msgId attribute. The pubsub
// driver sets no ordering key (Pub/Sub orders only within a key; consumers
// order by the envelope's timestamp), so order is a figure here, not a
// promise. FAULTS_OUTAGE (a duration) sets another outage, as for
// scenario 18; the wait for the emulator's delivery of the backlog grows
// with it.
func TestFault19OutboxPubSubRestarted(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(10*time.Second, time.Minute), rate()
	if d, err := time.ParseDuration(os.Getenv("FAULTS_OUTAGE")); err == nil {
		outage = d
	}
	deliver := pick(60*time.Second, max(5*time.Minute, 2*outage))
	s := newScenario(t, "19", "Pub/Sub emulator stopped, restarted, the outbox on",
		"no stall, no gap; everything delivered after the restart; lost 0; duplicates only with the same msgId",
		twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%v down (and the emulator's start), %.0f lines/s", outage, r)
	emu := harness.StartPubSubEmulator(t)
	reader := newPubSubReader(t, emu.Addr())
	proxy := harness.StartFaultProxy(t, emu.Addr())
	in := s.start(s.outboxEnv(map[string]string{
		"MESSAGE_BUS_DRIVER": "pubsub", "PUBSUB_PROJECT_ID": pubsubProject, "PUBSUB_EMULATOR_HOST": proxy.Addr(),
		"PUBSUB_CREATE_TOPICS": "true",
	}), true)
	// haveForwarded waits until the checker received every message the
	// outbox forwarded (the emulator forgets them when it stops); the
	// emulator delivers a backlog of a minute's chat in about as long, so
	// the long version waits twice the outage (at least 5 minutes).
	haveForwarded := func() {
		t.Helper()
		harness.WaitFor(t, deliver, 50*time.Millisecond, "the checker has every forwarded message", func() (bool, string) {
			d, err := in.debug()
			if err != nil {
				return false, err.Error()
			}
			if d.Outbox == nil {
				t.Fatal("/_debug/twitch has no outbox: the outbox is off")
			}
			n := reader.Count()
			return uint64(n) >= d.Outbox.Forwarded, fmt.Sprintf("%d received, %d forwarded", n, d.Outbox.Forwarded)
		})
	}
	s.startGen(r)
	time.Sleep(3 * time.Second)
	before := in.mustDebug()
	proxy.Down()
	haveForwarded()
	reader.Stop() // before its emulator goes away
	emu.Stop()
	time.Sleep(outage)
	emu.Start()
	reader.Reconnect(emu.Addr())
	atRestart := in.mustDebug()
	proxy.Up(emu.Addr())
	s.faultEnd = time.Now()
	time.Sleep(pick(5*time.Second, 15*time.Second))
	s.stopGen()
	s.settle()
	haveForwarded()
	reader.Stop()
	received := reader.Received()
	res := s.check(received)
	after := in.mustDebug()
	mismatched, example := reader.IDMismatches()
	broken, _ := orderBroken(s.fake.Records(0), received)
	s.fig.Note = fmt.Sprintf("spooled %d messages (oldest %.0f s); forwarded %d, retries %d; stalls %d, gaps %d; "+
		"duplicates with a different msgId %d; ordering keys %d; out of order on arrival %d (no ordering key)",
		atRestart.outboxMessages(), atRestart.outboxAge(), after.Outbox.Forwarded, after.Outbox.Retries,
		after.readerStalls()-before.readerStalls(), after.Twitch.Gaps-before.Twitch.Gaps, mismatched, reader.Keyed(), broken)
	if n := after.readerStalls() - before.readerStalls(); n != 0 {
		t.Errorf("the reader stalled %d times during the outage: the outbox did not absorb it", n)
	}
	if n := after.Twitch.Gaps - before.Twitch.Gaps; n != 0 {
		t.Errorf("%d gaps reported during the outage", n)
	}
	if atRestart.outboxMessages() == 0 {
		t.Errorf("the outbox held nothing at the end of the outage")
	}
	if res.Delivered+res.Duplicated != res.Sent || res.InGap != 0 {
		t.Errorf("delivered %d (and %d more than once) of %d sent, %d in gaps; want all", res.Delivered, res.Duplicated, res.Sent, res.InGap)
	}
	if mismatched != 0 {
		t.Errorf("%d envelopes without one msgId shared by their copies, e.g. %s", mismatched, example)
	}
	if after.outboxMessages() != 0 || after.outboxLost() != 0 {
		t.Errorf("after recovery the outbox holds %d messages and lost %d; want 0 and 0", after.outboxMessages(), after.outboxLost())
	}
	s.pass(res)
}

// TestFault20OutboxFullSlowReaderDropped: the outbox is small
// (OUTBOX_MAX_BYTES 1 MiB) and the external JetStream is down longer than
// it holds: storing waits, the publisher's queue fills, the reader waits,
// and the fake server drops the connection whose queue passes a bound, as
// Twitch drops slow readers. The service must not crash; what was written
// to the dropped connection and never read must lie in a reported gap;
// once the remote is back the outbox drains and reading resumes.
func TestFault20OutboxFullSlowReaderDropped(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(15*time.Second, 60*time.Second), rate()
	s := newScenario(t, "20", "the outbox full (1 MiB) while the bus is down; the server drops the slow reader",
		"no crash; lost 0, unreported 0; the gap covers the dropped interval; the outbox drains after the restart",
		twitchtest.Config{DropQueue: 2000, SendBuffer: 64 << 10}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%v down, OUTBOX_MAX_BYTES 1 MiB, queue 1000, drop past 2000 queued lines, %.0f lines/s", outage, r)
	ns := harness.StartNATSProcess(t, "")
	harness.CreateIngressStream(t, ns.URL(), "")
	in := s.start(shortKeepalive(s.outboxEnv(map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.URL(),
		"PUBLISH_QUEUE": "1000", "OUTBOX_MAX_BYTES": "1048576"})), true)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	ns.Kill()
	var peak outboxSnap
	for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if d, err := in.debug(); err == nil && d.Outbox != nil && d.Outbox.Bytes >= peak.Bytes {
			peak = *d.Outbox
		}
	}
	atRestart := in.mustDebug()
	ns.Start()
	s.faultEnd = time.Now()
	time.Sleep(pick(5*time.Second, 15*time.Second))
	s.stopGen()
	s.settle()
	res := s.check(readJetStream(t, ns.URL(), "", "INGRESS"))
	after := in.mustDebug()
	drops := s.fake.Stats().SlowDrops
	s.fig.Note = fmt.Sprintf("outbox peak %d KiB of %d KiB, full waits %d (%.1f s); dropped as a slow reader %d×, reconnects %d",
		peak.Bytes>>10, peak.MaxBytes>>10, after.Outbox.FullWaits, after.Outbox.FullWait, drops, after.reconnects())
	if !in.p.ExitedAt().IsZero() {
		t.Fatalf("the service exited during the outage:\n%s", harness.Tail(in.p.Stderr(), 4000))
	}
	if atRestart.Outbox == nil || atRestart.Outbox.FullWaits == 0 {
		t.Errorf("the outbox never made the publisher wait: it was not full (held %d of %d bytes)", peak.Bytes, peak.MaxBytes)
	}
	if drops == 0 {
		t.Errorf("the fake server never dropped the reader: the outage did not outlast the buffers")
	}
	if s.fig.GapSeconds == 0 {
		t.Errorf("no gap reported for the dropped connection")
	}
	if after.outboxMessages() != 0 || after.outboxLost() != 0 {
		t.Errorf("after recovery the outbox holds %d messages and lost %d; want 0 and 0", after.outboxMessages(), after.outboxLost())
	}
	if in.mon.readyAgain(s.faultEnd).IsZero() {
		t.Errorf("the service was not ready again after the remote returned")
	}
	s.pass(res)
}
