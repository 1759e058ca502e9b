package faults

// Faults of the service's own process: SIGTERM with thousands of messages
// queued for a bus that cannot take them, SIGKILL under load, two
// instances on one data directory, two instances on one stream.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// TestFault12SigtermQueued: SIGTERM while 8,000 messages wait for a bus
// that is frozen (SIGSTOP) or dead (SIGKILL). The process exits 0 within
// Cloud Run's 10 s; its report adds up; every undelivered id is logged in
// entries under Cloud Logging's 256 KB; an id reported lost is not on the
// stream once the bus is back (unknown ones may be); and every line the
// service read is on the stream or named.
func TestFault12SigtermQueued(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	for _, dead := range []bool{false, true} {
		id, how := "12a", "frozen (SIGSTOP)"
		if dead {
			id, how = "12b", "dead (SIGKILL)"
		}
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			sigtermQueued(t, id, how, dead)
		})
	}
}

func sigtermQueued(t *testing.T, id, how string, dead bool) {
	r := 4 * rate()
	s := newScenario(t, id, "SIGTERM with 8,000 messages queued for a bus "+how,
		"exit 0 within 10 s; counts add up; every undelivered id logged (entries < 256 KB); lost ids not on the stream; lost 0, unreported 0",
		twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("queue 8192, %.0f lines/s", r)
	ns := harness.StartNATSProcess(t, "")
	harness.CreateIngressStream(t, ns.URL(), "")
	in := s.start(s.env(map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.URL()}), true)
	s.startGen(rate())
	time.Sleep(2 * time.Second)
	if dead {
		ns.Kill()
	} else {
		ns.Stop()
	}
	s.stopGen()
	s.startGen(r)
	harness.WaitFor(t, 60*time.Second, 20*time.Millisecond, "8,000 messages queued", func() (bool, string) {
		d, err := in.debug()
		if err != nil {
			return false, err.Error()
		}
		return d.Bus.Pending >= 8000, fmt.Sprint(d.Bus.Pending, " pending")
	})
	start := time.Now()
	in.p.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	s.stopGen()
	code, ok := in.p.Wait(15 * time.Second)
	elapsed := time.Since(start)
	if !ok || code != 0 || elapsed > 10*time.Second {
		t.Errorf("after SIGTERM: exited %v with code %d after %v; want 0 within 10 s", ok, code, elapsed.Round(time.Millisecond))
	}
	if dead {
		ns.Start()
	} else {
		ns.Cont()
	}

	// The report.
	num := func(rec map[string]any, k string) int {
		f, _ := rec[k].(float64)
		return int(f)
	}
	drained := in.p.FindLogs("bus drained")
	stuck := in.p.FindLogs("the bus did not close by the shutdown deadline: exiting without it")
	var final map[string]any
	switch {
	case len(drained) == 1 && len(stuck) == 0:
		final = drained[0]
	case len(stuck) == 1 && len(drained) == 0:
		final = stuck[0]
	default:
		t.Fatalf("final log: %d \"bus drained\" and %d \"did not close\" records", len(drained), len(stuck))
	}
	accepted, acked, failures := num(final, "accepted"), num(final, "acked"), num(final, "failureEvents")
	lost, unknown, unsettled := num(final, "lost"), num(final, "unknown"), num(final, "unsettled")
	if accepted != acked+failures+lost+unknown+unsettled {
		t.Errorf("final counts %v: accepted %d != acked %d + failure events %d + lost %d + unknown %d + unsettled %d",
			final, accepted, acked, failures, lost, unknown, unsettled)
	}
	s.named = map[string]bool{}
	lostIDs := map[string]bool{}
	entries, biggest := 0, 0
	for _, l := range in.p.StderrLines() {
		if !strings.Contains(l, `"bus: undelivered message ids"`) && !strings.Contains(l, `"envelope not accepted by the publisher"`) {
			continue
		}
		biggest = max(biggest, len(l))
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("undelivered entry is not JSON: %v", err)
			continue
		}
		if rec["message"] == "envelope not accepted by the publisher" {
			s.named[str(rec["msgId"])] = true
			continue
		}
		entries++
		list, _ := rec["msgIds"].([]any)
		if len(list) != num(rec, "count") {
			t.Errorf("undelivered entry: count %d but %d ids", num(rec, "count"), len(list))
		}
		for _, v := range list {
			s.named[str(v)] = true
			if rec["outcome"] == "lost" {
				lostIDs[str(v)] = true
			}
		}
	}
	if biggest >= 256<<10 {
		t.Errorf("an undelivered-ids log entry is %d bytes, over Cloud Logging's 256 KB", biggest)
	}
	namedUndelivered := 0
	for _, l := range in.p.FindLogs("bus: undelivered message ids") {
		namedUndelivered += num(l, "count")
	}
	if namedUndelivered != lost+unknown+unsettled {
		t.Errorf("%d ids logged as undelivered, the report counts %d lost + %d unknown + %d unsettled", namedUndelivered, lost, unknown, unsettled)
	}
	if lost+unknown+unsettled < 4000 {
		t.Errorf("only %d messages undelivered at the exit: the bus was not holding 8,000", lost+unknown+unsettled)
	}
	received := readJetStream(t, ns.URL(), "", "INGRESS")
	stored := 0
	for _, m := range received {
		if lostIDs[m.ID] {
			stored++
		}
	}
	if stored > 0 {
		t.Errorf("%d of the %d ids reported lost are on the stream: lost must mean never stored", stored, len(lostIDs))
	}
	res := s.check(received)
	s.fig.Note = fmt.Sprintf("exit after %.1f s; accepted %d = acked %d + lost %d + unknown %d + unsettled %d; %d id entries, largest %d KiB",
		elapsed.Seconds(), accepted, acked, lost, unknown, unsettled, entries, biggest>>10)
	s.pass(res)
}

// TestFault13SigkillRestart: SIGKILL under load, then a new process on
// the same bus (the embedded bus: the same DATA_DIR). What the bus
// acknowledged survives; what was in flight is lost without a report (the
// process had no chance to make one), and is bounded: it is the unread
// and unacknowledged end of the killed connection, no more than was
// pending plus unread at the last look before the kill. Lines of the new
// process all arrive.
func TestFault13SigkillRestart(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	for _, embedded := range []bool{true, false} {
		id, bus := "13a", "embedded"
		if !embedded {
			id, bus = "13b", "external JetStream"
		}
		t.Run(bus, func(t *testing.T) {
			t.Parallel()
			r := rate()
			s := newScenario(t, id, "SIGKILL under load and restart ("+bus+" bus)",
				"lost 0 and unreported 0 apart from the killed process's in-flight end, which is bounded and named", twitchtest.Config{}, "tcp", 3)
			s.fig.Params = fmt.Sprintf("%.0f lines/s", r)
			var env map[string]string
			var url string
			if embedded {
				port := harness.FreePort(t)
				env = s.env(map[string]string{"DATA_DIR": t.TempDir(), "EMBEDDED_NATS_PORT": strconv.Itoa(port)})
				url = "nats://127.0.0.1:" + strconv.Itoa(port)
			} else {
				ns := harness.StartNATSProcess(t, "")
				harness.CreateIngressStream(t, ns.URL(), "")
				env = s.env(map[string]string{"MESSAGE_BUS_DRIVER": "nats", "NATS_URL": ns.URL()})
				url = ns.URL()
			}
			first := s.start(env, true)
			s.startGen(r)
			time.Sleep(3 * time.Second)
			first.mon.mu.Lock()
			last := first.mon.last
			first.mon.mu.Unlock()
			s.killed = time.Now()
			first.p.Signal(syscall.SIGKILL)
			if _, ok := first.p.Wait(10 * time.Second); !ok {
				t.Fatal("still running 10 s after SIGKILL")
			}
			second := s.start(env, true)
			ready := time.Since(s.killed)
			s.faultEnd = s.killed // recovery: from the kill to the new process ready, the backlog stored
			time.Sleep(3 * time.Second)
			s.stopGen()
			s.settle()
			res := s.check(readJetStream(t, url, "", "INGRESS"))
			// The bound: pending at the last look, plus what the fake
			// server had written by the kill and the service had not read
			// at that look.
			written := 0
			for _, rec := range s.fake.Records(0) {
				if rec.Client == s.fake.Conns()[0].Client && !rec.At.After(s.killed) {
					written++
				}
			}
			bound := last.Bus.Pending + written - int(last.privmsgs())
			s.fig.Note = fmt.Sprintf("killed in flight %d (bound %d: %d pending and %d unread at the last look, %s before the kill); restart ready %.1f s after the kill",
				res.KilledInFlight, bound, last.Bus.Pending, written-int(last.privmsgs()), s.killed.Sub(last.At).Round(time.Millisecond), ready.Seconds())
			if res.KilledInFlight > bound {
				t.Errorf("%d lines killed in flight, over the bound %d", res.KilledInFlight, bound)
			}
			if d := second.mustDebug(); d.Bus.Acked == 0 {
				t.Errorf("the restarted process acknowledged nothing")
			}
			s.pass(res)
		})
	}
}

// TestFault14SharedDataDir: a second process on the DATA_DIR of a running
// one must refuse to start, with the reason, and leave the first alone.
func TestFault14SharedDataDir(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	r := rate()
	s := newScenario(t, "14", "two instances on one DATA_DIR (embedded bus)",
		"the second refuses to start, naming the directory in use; the first loses nothing", twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%.0f lines/s", r)
	dir, port := t.TempDir(), harness.FreePort(t)
	first := s.start(s.env(map[string]string{"DATA_DIR": dir, "EMBEDDED_NATS_PORT": strconv.Itoa(port)}), true)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	from := time.Now()
	second := harness.Start(t, s.env(map[string]string{"DATA_DIR": dir}))
	code, ok := second.Wait(30 * time.Second)
	if !ok || code == 0 {
		t.Errorf("the second process on %s: exited %v with code %d, want a refusal", dir, ok, code)
	}
	if !strings.Contains(second.Stderr(), "data directory in use") {
		t.Errorf("the second process does not say the data directory is in use:\n%s", harness.Tail(second.Stderr(), 2000))
	}
	time.Sleep(2 * time.Second)
	s.stopGen()
	if first.mon.notReadyBetween(from, time.Now()) {
		t.Errorf("the first process went not ready while the second tried to start")
	}
	s.settle()
	res := s.check(readJetStream(t, "nats://127.0.0.1:"+strconv.Itoa(port), "", "INGRESS"))
	s.fig.Note = fmt.Sprintf("second process exit code %d", code)
	s.pass(res)
}

// TestFault15TwoInstancesOneStream: two processes read the same channels
// into one JetStream stream (the same Nats-Msg-Id): every line is stored
// once, also when one of them reconnects meanwhile.
func TestFault15TwoInstancesOneStream(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	r := rate()
	s := newScenario(t, "15", "two instances on one external stream (one of them reconnects meanwhile)",
		"duplicates 0; lost 0, unreported 0", twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%.0f lines/s", r)
	bus, read := s.inProcessNATS()
	s.start(s.env(bus), true)
	s.start(s.env(bus), true)
	s.startGen(r)
	time.Sleep(3 * time.Second)
	s.fake.Clients()[0].Close()
	s.faultEnd = time.Now()
	time.Sleep(3 * time.Second)
	s.stopGen()
	s.settle()
	res := s.check(read())
	s.fig.Note = fmt.Sprintf("%d connections to the fake server", len(s.fake.Conns()))
	if res.Duplicated > 0 {
		t.Errorf("%d lines stored more than once", res.Duplicated)
	}
	s.pass(res)
}
