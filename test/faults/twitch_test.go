package faults

// Chat server faults: the server killed and back, RECONNECT in a row, a
// connection cut mid-line, a half-open link, PINGs left unanswered, 500
// channels at once.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// proxied puts a FaultProxy in front of the scenario's fake server, points
// the service at it, and returns it with the fake server's address.
func (s *scenario) proxied() (*harness.FaultProxy, string) {
	s.t.Helper()
	proto, addr, _ := strings.Cut(s.ircURL, "://")
	p := harness.StartFaultProxy(s.t, addr)
	s.ircURL = proto + "://" + p.Addr()
	return p, addr
}

// TestFault05ServerRestartAndReconnects: the chat server goes away (its
// port refuses, its connections are cut) and comes back; then it sends
// RECONNECT five times in a row, which the service answers by
// overlapping connections.
func TestFault05ServerRestartAndReconnects(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(3*time.Second, 30*time.Second), rate()
	s := newScenario(t, "05", "chat server killed and restarted; then RECONNECT ×5 in a row",
		"lost 0, unreported 0; the outage is a reported gap; RECONNECTs without a gap or duplicate", twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%v down, %.0f lines/s", outage, r)
	proxy, server := s.proxied()
	bus, read := s.inProcessNATS()
	in := s.start(s.env(bus), true)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	proxy.Down()
	s.fake.CloseAll()
	time.Sleep(outage)
	proxy.Up(server)
	s.faultEnd = time.Now()
	in.waitReady("ready after the restart", 30*time.Second)
	time.Sleep(2 * time.Second)
	gapsBefore := in.mustDebug().Twitch.Gaps
	for range 5 {
		s.fake.Reconnect()
		time.Sleep(300 * time.Millisecond)
	}
	s.waitJoined("rejoined after the RECONNECTs", 30*time.Second)
	in.waitReady("ready after the RECONNECTs", 30*time.Second)
	time.Sleep(2 * time.Second)
	s.stopGen()
	s.settle()
	res := s.check(read())
	d := in.mustDebug()
	s.fig.Note = fmt.Sprintf("reconnects %d, gaps %d (%d after the RECONNECTs), dedup hits %d", d.reconnects(), d.Twitch.Gaps, d.Twitch.Gaps-gapsBefore, dedupHits(d))
	if d.Twitch.Gaps == 0 {
		t.Errorf("no gap reported for a %v outage of the chat server", outage)
	}
	if res.Duplicated > 0 {
		t.Errorf("%d lines duplicated across the RECONNECT overlaps", res.Duplicated)
	}
	s.pass(res)
}

func dedupHits(d debugSnap) uint64 {
	var n uint64
	for _, c := range d.Twitch.Connections {
		n += c.Counters.DedupHits
	}
	return n
}

// TestFault06CutMidLine: the server ends the connection in the middle of
// a line, by an orderly close (FIN) and by a reset (RST), three times
// each. The partial line must never reach the bus; what was written
// before it is read; nothing is missed without a gap.
func TestFault06CutMidLine(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	for _, rst := range []bool{false, true} {
		kind, id := "FIN", "06a"
		if rst {
			kind, id = "RST", "06b"
		}
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := rate()
			s := newScenario(t, id, "connection cut mid-line with "+kind+" (×3)",
				"the partial line never published; lost 0, unreported 0", twitchtest.Config{}, "tcp", 3)
			s.fig.Params = fmt.Sprintf("%.0f lines/s", r)
			bus, read := s.inProcessNATS()
			in := s.start(s.env(bus), true)
			s.startGen(r)
			time.Sleep(2 * time.Second)
			for i := range 3 {
				cl := s.fake.Clients()
				if len(cl) != 1 {
					t.Fatalf("%d clients, want the service's one", len(cl))
				}
				partial := "@badge-info=;id=" + twitchtest.MessageID(1<<44+uint64(i)) + ";room-id=1 :viewer1!viewer1@viewer1.tmi.twitch.tv PRIVMSG #ch0 :this line is cut he"
				if err := cl[0].CutMidLine([]byte(partial), rst); err != nil {
					t.Fatal(err)
				}
				s.faultEnd = time.Now()
				in.waitReady("ready after the cut", 30*time.Second)
				s.waitJoined("rejoined after the cut", 30*time.Second)
				time.Sleep(time.Second)
			}
			s.stopGen()
			s.settle()
			res := s.check(read())
			d := in.mustDebug()
			s.fig.Note = fmt.Sprintf("reconnects %d, gaps %d", d.reconnects(), d.Twitch.Gaps)
			if d.reconnects() < 3 {
				t.Errorf("%d reconnects after 3 cuts", d.reconnects())
			}
			s.pass(res)
		})
	}
}

// TestFault07HalfOpen: a proxy between the service and the server turns
// into a black hole in both directions: the connection stays open and
// nothing passes. The keepalive must find the dead connection; what the
// server wrote into the hole must lie in a reported gap.
func TestFault07HalfOpen(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	outage, r := pick(8*time.Second, 30*time.Second), rate()
	s := newScenario(t, "07", "half-open connection (a proxy blackholes both directions)",
		"the keepalive reconnects; lost 0, unreported 0", twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%v blackholed, %.0f lines/s", outage, r)
	proxy, _ := s.proxied()
	bus, read := s.inProcessNATS()
	in := s.start(shortKeepalive(s.env(bus)), true)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	proxy.Blackhole(true)
	time.Sleep(outage)
	proxy.Blackhole(false)
	s.faultEnd = time.Now()
	in.waitReady("ready after the black hole", 60*time.Second)
	s.waitJoined("rejoined after the black hole", 30*time.Second)
	time.Sleep(2 * time.Second)
	s.stopGen()
	s.settle()
	res := s.check(read())
	d := in.mustDebug()
	var pong uint64
	for _, c := range d.Twitch.Connections {
		pong += c.ReasonCounts["pong_timeout"]
	}
	s.fig.Note = fmt.Sprintf("reconnects %d (%d for a PING unanswered)", d.reconnects(), pong)
	if pong == 0 {
		t.Errorf("no reconnect for an unanswered PING during a %v black hole", outage)
	}
	s.pass(res)
}

// TestFault08PingsUnanswered: the server stops answering PING but goes on
// sending lines. While lines come, the connection is alive: no reconnect.
// Once they stop too, the keepalive must reconnect.
func TestFault08PingsUnanswered(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	quiet, r := pick(12*time.Second, 60*time.Second), rate()
	s := newScenario(t, "08", "server stops answering PING, keeps sending",
		"no reconnect while lines come; one once they stop; lost 0, unreported 0", twitchtest.Config{}, "tcp", 3)
	s.fig.Params = fmt.Sprintf("%.0f lines/s, then a line every %s for %v (keepalive %s)", r, pick("2.2 s", "17 s"), quiet, pick("2 s + 2 s", "15 s + 5 s"))
	bus, read := s.inProcessNATS()
	env := s.env(bus)
	if !long {
		env["IRC_PING_INTERVAL"], env["IRC_PONG_TIMEOUT"] = "2s", "2s"
	}
	in := s.start(env, true)
	s.fake.MutePings(true)
	s.generate(r, 3*time.Second)
	// A line every 2.2 s: past the 2 s ping interval the service PINGs,
	// and the next line, 0.2 s later and well within the 2 s the PONG is
	// waited for, shows the connection is alive.
	slow := 1 / 2.2
	if long {
		slow = 1 / 17.0 // past the default 15 s, within its 5 s
	}
	s.generate(slow, quiet)
	d := in.mustDebug()
	if n := d.reconnects(); n != 0 {
		t.Errorf("%d reconnects while lines kept coming with PINGs unanswered", n)
	}
	var pings int
	pings = s.fake.Stats().Pings
	if pings == 0 {
		t.Errorf("the service sent no PING in %v of near silence: the test did not exercise the keepalive", quiet)
	}
	// Silence: now the keepalive must give up on the connection.
	stopped := time.Now()
	harness.WaitFor(t, 60*time.Second, 50*time.Millisecond, "a reconnect after the server fell silent", func() (bool, string) {
		d := in.mustDebug()
		return d.reconnects() > 0, "no reconnect yet"
	})
	s.fake.MutePings(false)
	s.faultEnd = time.Now()
	in.waitReady("ready again", 30*time.Second)
	s.generate(r, 2*time.Second)
	s.settle()
	res := s.check(read())
	d = in.mustDebug()
	s.fig.Note = fmt.Sprintf("PINGs unanswered %d, reconnects %d (after %.1f s of silence)", pings, d.reconnects(), s.faultEnd.Sub(stopped).Seconds())
	s.pass(res)
}

// TestFault09FiveHundredChannels: 500 channels added at once through
// /_admin/channels; all are joined within the JOIN budget, and lines on
// all of them are delivered.
func TestFault09FiveHundredChannels(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	r := rate()
	s := newScenario(t, "09", "500 channels added at once through /_admin/channels",
		"all joined within the JOIN budget; lost 0, unreported 0", twitchtest.Config{JoinLimit: pick(200, 20)}, "tcp", 500)
	s.fig.Params = fmt.Sprintf("JOIN budget %d per 10 s per connection, %.0f lines/s over 500 channels", pick(200, 20), r)
	bus, read := s.inProcessNATS()
	all := s.channels
	env := s.env(merge(bus, map[string]string{"TWITCH_CHANNELS": all[0], "TWITCH_JOIN_RATE": fmt.Sprint(pick(200, 20))}))
	in := s.start(env, true)
	body := `{"channels":["` + strings.Join(all[1:], `","`) + `"]}`
	start := time.Now()
	if code, resp := harness.HTTPDo(t, "POST", in.base+"/_admin/channels", "", body); code != 202 {
		t.Fatalf("POST /_admin/channels with 499 channels: %d %s", code, resp)
	}
	in.waitReady("500 channels joined", pick(60*time.Second, 5*time.Minute))
	joinedIn := time.Since(start)
	s.waitJoined("the fake server sees 500 channels joined", 30*time.Second)
	s.generate(r, pick(5*time.Second, 30*time.Second))
	s.settle()
	res := s.check(read())
	d := in.mustDebug()
	st := s.fake.Stats()
	s.fig.Note = fmt.Sprintf("500 joined in %.1f s over %d connections; JOIN kicks %d", joinedIn.Seconds(), len(d.Twitch.Connections), st.JoinKicks)
	if d.Twitch.Joined != 500 || st.JoinKicks != 0 {
		t.Errorf("joined %d of 500, %d JOIN kicks", d.Twitch.Joined, st.JoinKicks)
	}
	s.pass(res)
}

// badLines returns one of each kind of bad input, with ids from a range
// the generator never uses (n tells them apart), and which of them the
// service must still deliver.
func badLines(n uint64, channel string, bigLine int) (lines []string, deliver map[string]bool) {
	id := func(k uint64) string { return twitchtest.MessageID(1<<46 + n*16 + k) }
	prefix := func(k uint64, tags string) string {
		return "@" + tags + "id=" + id(k) + ";room-id=1;tmi-sent-ts=1700000000000 :bad!bad@bad.tmi.twitch.tv PRIVMSG #" + channel + " :"
	}
	var manyTags strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&manyTags, "t%d=v;", i)
	}
	lines = []string{
		prefix(0, "") + strings.Repeat("x", bigLine),                                   // over IRC_MAX_LINE
		prefix(1, "") + "NUL \x00 inside",                                              // NUL is not allowed in IRC
		prefix(2, "") + "invalid UTF-8 \xff\xfe\xc3 and a lone surrogate \xed\xa0\x80", // valid IRC: delivered
		prefix(3, manyTags.String()) + "ten thousand tags",                             // over IRC_MAX_LINE too
		"@id=" + id(4) + " :bad!bad@bad.tmi.twitch.tv PRIVMSG #" + channel + strings.Repeat(" p", 1000) + " :1,000 params",
	}
	return lines, map[string]bool{id(2): true}
}

// TestFault11BadInput: bad lines at full rate among the good ones: lines
// over the length limit, NUL, invalid UTF-8, 10,000 tags, 1,000 params;
// on WebSocket also a message over the read limit. The service skips or
// repairs each; over TCP it never reconnects for them; the good lines all
// arrive.
func TestFault11BadInput(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	for _, proto := range []string{"tcp", "ws"} {
		id := "11a"
		if proto == "ws" {
			id = "11b"
		}
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			d, r := pick(5*time.Second, 30*time.Second), rate()
			what := "bad input at full rate over TCP: 1 MiB lines, NUL, invalid UTF-8, 10,000 tags, 1,000 params"
			expected := "no reconnect; good lines and invalid UTF-8 delivered; lost 0, unreported 0"
			bigLine := 1 << 20
			if proto == "ws" {
				what = "bad input over WebSocket, and a message over the read limit"
				expected = "one reconnect per oversized message, inside a gap; lost 0, unreported 0"
				bigLine = 200 << 10 // over the line limit, under the message limit
			}
			s := newScenario(t, id, what, expected, twitchtest.Config{}, proto, 3)
			bus, read := s.inProcessNATS()
			in := s.start(s.env(bus), true)
			s.startGen(r)
			start := time.Now()
			var sent, cycles uint64
			for time.Since(start) < d {
				lines, deliver := badLines(cycles, "ch0", bigLine)
				for _, l := range lines {
					s.fake.Broadcast("ch0", l)
					sent++
				}
				for k := range uint64(5) {
					if bid := twitchtest.MessageID(1<<46 + cycles*16 + k); !deliver[bid] {
						s.exclude[bid] = true
					}
				}
				cycles++
				time.Sleep(pick(50*time.Millisecond, 10*time.Millisecond))
			}
			var oversizedMsgs int
			if proto == "ws" {
				// One message over the read limit (256 KiB): the
				// WebSocket library ends the connection.
				cl := s.fake.Clients()
				if len(cl) != 1 {
					t.Fatalf("%d clients, want 1", len(cl))
				}
				big := "@id=" + twitchtest.MessageID(1<<47) + " :bad!bad@bad.tmi.twitch.tv PRIVMSG #ch0 :" + strings.Repeat("y", 300<<10)
				s.exclude[twitchtest.MessageID(1<<47)] = true
				if err := cl[0].WriteRaw([]byte(big)); err != nil {
					t.Logf("writing the oversized message: %v", err)
				}
				oversizedMsgs = 1
				s.faultEnd = time.Now()
				in.waitReady("ready after the oversized message", 30*time.Second)
				s.waitJoined("rejoined after the oversized message", 30*time.Second)
				time.Sleep(time.Second)
			}
			s.stopGen()
			s.settle()
			res := s.check(read())
			dbg := in.mustDebug()
			var parseErrors, oversized uint64
			fams, err := scrape(in.base)
			if err == nil {
				parseErrors, oversized = uint64(fams["ingress_parse_errors_total"]), uint64(fams["ingress_oversized_lines_total"])
			}
			s.fig.Params = fmt.Sprintf("%v, %.0f good lines/s, %d bad lines (%d cycles)", d, r, sent, cycles)
			s.fig.Note = fmt.Sprintf("parse errors %d (NUL), oversized %d, reconnects %d; bad lines on the bus %d of %d (1,000 params: past the 14th they fold into the text, RFC 2812)",
				parseErrors, oversized, dbg.reconnects(), res.ExcludedOnBus, res.Excluded)
			if want := uint64(oversizedMsgs); dbg.reconnects() != want {
				t.Errorf("%d reconnects, want %d", dbg.reconnects(), want)
			}
			for k := range cycles {
				if c := res.Classes[twitchtest.MessageID(1<<46+k*16+2)]; c != Delivered {
					t.Errorf("the PRIVMSG with invalid UTF-8 of cycle %d: %v, want delivered", k, c)
					break
				}
			}
			if oversized < cycles*2 || parseErrors == 0 {
				t.Errorf("%d oversized lines and %d parse errors counted for %d cycles of bad lines", oversized, parseErrors, cycles)
			}
			s.pass(res)
		})
	}
}

// goroutines reads the service's goroutine count from pprof.
func (in *instance) goroutines() (int, error) {
	code, body, err := get(in.base+"/_debug/pprof/goroutine?debug=1", in.token)
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("/_debug/pprof/goroutine: %d", code)
	}
	var n int
	if _, err := fmt.Sscanf(body, "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("goroutine profile: %v: %.80q", err, body)
	}
	return n, nil
}

// TestFault16FiftyReconnects: the server drops the connection 50 times,
// each reconnect succeeding at once. Goroutines and descriptors come back
// to where they were, memory does not grow with the reconnects, the
// backoff starts over after every connection that joined, and nothing is
// lost or missed without a gap.
func TestFault16FiftyReconnects(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	const drops = 50
	r := rate() / 5
	s := newScenario(t, "16", "50 reconnects in a row (the server drops each connection once joined)",
		"goroutines, descriptors and memory back to their level; no backoff growth; lost 0, unreported 0", twitchtest.Config{}, "tcp", 3)
	initial := pick(300, 1000)
	s.fig.Params = fmt.Sprintf("%d drops, reconnect delay from %d ms (cap 30 s), %.0f lines/s", drops, initial, r)
	bus, read := s.inProcessNATS()
	in := s.start(s.env(merge(bus, map[string]string{"IRC_RECONNECT_INITIAL_MS": fmt.Sprint(initial), "IRC_RECONNECT_MAX_MS": "30000"})), true)
	s.startGen(r)
	time.Sleep(2 * time.Second)
	measure := func() (int, harness.ProcStatus) {
		g, err := in.goroutines()
		if err != nil {
			t.Fatal(err)
		}
		st, ok := harness.ReadProcStatus(in.p.Pid())
		if !ok {
			t.Fatal("no /proc status of the service")
		}
		return g, st
	}
	g0, st0 := measure()
	for i := range drops {
		s.fake.CloseAll()
		harness.WaitFor(t, 20*time.Second, 10*time.Millisecond, fmt.Sprintf("rejoined after drop %d", i+1), func() (bool, string) {
			cl := s.fake.Clients()
			return len(cl) == 1 && len(cl[0].Channels()) == len(s.channels), fmt.Sprintf("%d clients", len(cl))
		})
		in.waitReady(fmt.Sprintf("ready after drop %d", i+1), 20*time.Second)
		time.Sleep(200 * time.Millisecond) // lines on each connection
	}
	s.faultEnd = time.Now()
	time.Sleep(2 * time.Second)
	s.stopGen()
	s.settle()
	g1, st1 := measure()
	res := s.check(read())
	d := in.mustDebug()
	// The gaps of one channel, in order: the backoff must not grow.
	var gaps []float64
	for _, iv := range in.intervals() {
		if iv.Kind == KindGap && iv.Channel == "ch0" {
			gaps = append(gaps, iv.To.Sub(iv.From).Seconds())
		}
	}
	gaps = dedupFloats(gaps)
	s.fig.Note = fmt.Sprintf("reconnects %d; goroutines %d→%d, descriptors %d→%d, threads %d→%d; gap of ch0 first/last ten: median %.2f/%.2f s",
		d.reconnects(), g0, g1, st0.FDs, st1.FDs, st0.Threads, st1.Threads, median(first(gaps, 10)), median(last(gaps, 10)))
	if d.reconnects() != drops {
		t.Errorf("%d reconnects, want %d", d.reconnects(), drops)
	}
	if g1 > g0+10 {
		t.Errorf("goroutines %d before, %d after %d reconnects", g0, g1, drops)
	}
	if st1.FDs > st0.FDs+5 {
		t.Errorf("descriptors %d before, %d after %d reconnects", st0.FDs, st1.FDs, drops)
	}
	if st1.RSS > 2*st0.RSS+(64<<20) {
		t.Errorf("RSS %d MiB before, %d MiB after %d reconnects", st0.RSS>>20, st1.RSS>>20, drops)
	}
	// Exponential growth from 0.3 s would reach the 30 s cap within ten
	// reconnects; a backoff that starts over stays near its first delay.
	if len(gaps) < 20 {
		t.Errorf("%d gaps of ch0 reported for %d drops", len(gaps), drops)
	} else if lm, fm := median(last(gaps, 10)), median(first(gaps, 10)); lm > 4*fm+1 {
		t.Errorf("the reconnect gaps grew: median of the first ten %.2f s, of the last ten %.2f s", fm, lm)
	}
	s.pass(res)
}

func dedupFloats(v []float64) []float64 {
	var out []float64
	seen := map[float64]bool{}
	for _, x := range v {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func first(v []float64, n int) []float64 { return v[:min(n, len(v))] }
func last(v []float64, n int) []float64  { return v[max(0, len(v)-n):] }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	slices.Sort(s)
	return s[len(s)/2]
}
