package faults

// Outbox faults: the remote bus down behind the durable outbox (external
// JetStream killed, the Pub/Sub emulator stopped), and the outbox full
// while the chat server drops the slow reader.

import (
	"fmt"
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
// the spooled messages would take in memory.
func TestFault18OutboxNATSDown(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(20*time.Second, 10*time.Minute), rate()
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
	s.fig.Note = fmt.Sprintf("spooled %d messages (%d MiB on disk, oldest %.0f s) for %d lines written in the outage; peak RSS (VmHWM) %d MiB; "+
		"stalls %d, gaps %d, reconnects %d; order violations %d; store connection warnings %d",
		atRestart.outboxMessages(), atRestart.outboxBytes()>>20, atRestart.outboxAge(), duringOutage, hwm>>20,
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
	// The bound: the memory the service had before the outage plus 96 MiB
	// (the store's block cache, the race detector's shadow memory) — and, when
	// the spool is large (the long version: ~10 minutes of chat), less than
	// half of what it holds, which memory could not hold.
	rssBefore, _, _ := in.mon.rssFigures()
	bound := rssBefore + 96<<20
	if spooled := int64(peak.Bytes); spooled >= 256<<20 {
		bound = min(bound, spooled/2)
	}
	if hwm == 0 || hwm > bound {
		t.Errorf("peak RSS (VmHWM) %d MiB, bound %d MiB (RSS before %d MiB, %d MiB spooled)", hwm>>20, bound>>20, rssBefore>>20, peak.Bytes>>20)
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
