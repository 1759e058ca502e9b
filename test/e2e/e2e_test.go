package e2e

// End-to-end tests of the service binary: the built binary as a process,
// the fake Twitch server (twitch/twitchtest) in the test, and the bus read
// back with a NATS client.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/test/harness"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

func TestE2EPipeline(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	channels := []string{"alpha", "bravo", "charlie", "delta"}
	const first, second = 3000, 1000

	// The fake server's socket listens from the start but is served only
	// later: the service's connection waits in the backlog, so /readyz is
	// 503 until the test lets the server answer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// JoinDelay keeps the channels pending for a while after a reconnect,
	// so that the 503 of the outage cannot be missed.
	fake := twitchtest.NewServer(twitchtest.Config{JoinDelay: 100 * time.Millisecond})
	t.Cleanup(fake.Close)

	natsPort := harness.FreePort(t)
	dataDir := t.TempDir()
	p := harness.Start(t, map[string]string{
		"TWITCH_IRC_URL":           "ws://" + ln.Addr().String(),
		"TWITCH_CHANNELS":          strings.Join(channels, ","),
		"PORT":                     "0",
		"DATA_DIR":                 dataDir,
		"EMBEDDED_NATS_PORT":       strconv.Itoa(natsPort),
		"IRC_RECONNECT_INITIAL_MS": "100",
		"IRC_RECONNECT_MAX_MS":     "500",
	})
	base := p.HTTPBase()
	busRec := p.WaitLog("embedded NATS bus ready: watch the envelopes with a NATS client", 5*time.Second)
	natsURL := "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	if busRec["natsUrl"] != natsURL || busRec["stream"] != "INGRESS" || busRec["subject"] != "internal.ingress.v1" {
		t.Errorf("embedded bus record %v, want natsUrl %s, stream INGRESS, subject internal.ingress.v1", busRec, natsURL)
	}

	// 503 before the joins, naming only what is missing.
	if code, body := harness.Readyz(t, base); code != http.StatusServiceUnavailable || !slices.Equal(harness.NotReady(t, body), []string{"twitch"}) {
		t.Fatalf("/readyz before the joins: %d %s, want 503 naming twitch only", code, body)
	}
	for _, path := range []string{"/healthz", "/livez"} {
		if code, body := harness.HTTPGet(t, base+path, ""); code != http.StatusOK {
			t.Errorf("%s with Twitch unreachable: %d %s, want 200 (an outage must not restart the process)", path, code, body)
		}
	}

	// 200 after the joins.
	if err := fake.Serve(ln, "ws"); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 15*time.Second, 10*time.Millisecond, "/readyz 200 after the joins", func() (bool, string) {
		code, body := harness.Readyz(t, base)
		return code == http.StatusOK, strconv.Itoa(code) + " " + body
	})
	if clients := fake.Clients(); len(clients) != 1 || !slices.Equal(clients[0].Channels(), channels) {
		t.Fatalf("fake server clients %d, want one in %v", len(clients), channels)
	}

	sent := map[string]harness.Sent{}
	harness.Generate(t, fake, channels, first, sent)
	harness.WaitAcked(t, base, "", first)

	// The server drops the connection: 503, then 200 after the reconnect.
	fake.CloseAll()
	harness.WaitFor(t, 5*time.Second, 2*time.Millisecond, "/readyz 503 after the drop", func() (bool, string) {
		code, body := harness.Readyz(t, base)
		return code == http.StatusServiceUnavailable && slices.Contains(harness.NotReady(t, body), "twitch"), strconv.Itoa(code) + " " + body
	})
	harness.WaitFor(t, 15*time.Second, 10*time.Millisecond, "/readyz 200 after the reconnect", func() (bool, string) {
		code, body := harness.Readyz(t, base)
		return code == http.StatusOK, strconv.Itoa(code) + " " + body
	})
	harness.Generate(t, fake, channels, second, sent)
	const total = first + second
	d := harness.WaitAcked(t, base, "", total)

	// /_debug/twitch agrees with what was sent.
	var privmsgs, reconnects uint64
	for _, c := range d.Twitch.Connections {
		privmsgs += c.Counters.ByCommand["PRIVMSG"]
		reconnects += c.Counters.Reconnects
	}
	if privmsgs != total || d.Ingest.Envelopes != total || d.Bus.Accepted != total || d.Bus.FailureEvents != 0 || d.Bus.Lost != 0 {
		t.Errorf("debug: PRIVMSG lines %d, envelopes %d, accepted %d, failure events %d, lost %d; want %d, %d, %d, 0, 0",
			privmsgs, d.Ingest.Envelopes, d.Bus.Accepted, d.Bus.FailureEvents, d.Bus.Lost, total, total, total)
	}
	if !d.Twitch.Ready || d.Twitch.Wanted != len(channels) || d.Twitch.Joined != len(channels) || d.Credentials.Mode != "anonymous" || !d.Credentials.Ready {
		t.Errorf("debug: twitch ready %v wanted %d joined %d, credentials %+v", d.Twitch.Ready, d.Twitch.Wanted, d.Twitch.Joined, d.Credentials)
	}
	if reconnects < 1 || d.Twitch.Gaps < 1 || len(d.Twitch.Connections) != 1 || d.Twitch.Connections[0].LastReconnectReason == "" {
		t.Errorf("debug after a dropped connection: reconnects %d, gaps %d, connections %+v", reconnects, d.Twitch.Gaps, d.Twitch.Connections)
	}
	if st := fake.Stats(); st.Privmsgs != total || st.Logins != 2 {
		t.Errorf("fake server: %d PRIVMSGs delivered, %d logins; want %d and 2", st.Privmsgs, st.Logins, total)
	}

	// /metrics parses and agrees.
	fams := harness.Metrics(t, base)
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"ingress_lines_received_by_command_total", "command=PRIVMSG", total},
		{"ingress_envelopes_total", "", total},
		{"ingress_bus_accepted_total", "", total},
		{"ingress_bus_published_total", "", total},
		{"ingress_bus_failure_events_total", "", 0},
		{"ingress_bus_lost_total", "", 0},
		{"ingress_bus_queue_depth", "", 0},
		{"ingress_bus_ready", "", 1},
		{"ingress_channels_wanted", "", float64(len(channels))},
		{"ingress_channels_joined", "", float64(len(channels))},
		{"ingress_connections_connected", "", 1},
		{"ingress_parse_errors_total", "", 0},
		{"ingress_reconnects_total", "", float64(reconnects)},
		{"ingress_gaps_total", "", float64(d.Twitch.Gaps)},
		{"ingress_credentials_ready", "mode=anonymous", 1},
		{"ingress_receive_to_ack_seconds", "", total}, // the histogram's count
	} {
		if got := harness.Metric(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	var byCmd float64
	for _, v := range fams["ingress_lines_received_by_command_total"].Samples {
		byCmd += v
	}
	if lines := harness.Metric(t, fams, "ingress_lines_received_total", ""); lines != byCmd {
		t.Errorf("ingress_lines_received_total %v, but the lines by command add up to %v", lines, byCmd)
	}
	var byReason float64
	for _, v := range fams["ingress_reconnects_by_reason_total"].Samples {
		byReason += v
	}
	if byReason != float64(reconnects) {
		t.Errorf("reconnects by reason add up to %v, want %d", byReason, reconnects)
	}
	if gs := harness.Metric(t, fams, "ingress_gap_seconds_total", ""); gs <= 0 || gs > 30 {
		t.Errorf("ingress_gap_seconds_total %v after one short outage", gs)
	}
	if f := fams["ingress_receive_to_ack_seconds"]; f.Type != "HISTOGRAM" {
		t.Errorf("ingress_receive_to_ack_seconds is a %s, want a histogram", f.Type)
	}
	for name, f := range fams {
		if strings.HasSuffix(name, "_total") && f.Type != "COUNTER" {
			t.Errorf("%s is a %s, want a counter", name, f.Type)
		}
	}

	// Every envelope on the bus, exactly once, with the right content.
	msgs := harness.ReadStream(t, natsURL, "", "INGRESS", "internal.ingress.v1", 20*time.Second)
	harness.CheckEnvelopes(t, msgs, sent)

	// A clean stop.
	start := time.Now()
	p.Signal(syscall.SIGTERM)
	code, ok := p.Wait(10 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("after SIGTERM: exited %v, code %d, after %v; want 0 within 10 s", ok, code, time.Since(start))
	}
	drained := p.FindLogs("bus drained")
	if len(drained) != 1 || drained[0]["accepted"] != float64(total) || drained[0]["acked"] != float64(total) {
		t.Errorf("final bus record %v, want accepted and acked %d", drained, total)
	}
	for _, rec := range p.Logs() {
		if sev := rec["severity"]; sev == "ERROR" {
			t.Errorf("error logged in a clean run: %v", rec)
		}
	}
}

// TestE2ESigtermInFlight stops the service while thousands of messages wait
// for a slow bus: it must exit with 0 within Cloud Run's 10 s, and every
// line it read must be on the bus (or a failure event) or counted as
// undelivered in its final log.
func TestE2ESigtermInFlight(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		// buffered: the bus reads what the service sends at once and is
		// slow to store and acknowledge it; the service's writes never
		// block, and its final log names every undelivered message.
		// Otherwise the link is slow: the NATS client blocks writing to
		// the socket (holding its lock) and the service may have to exit
		// without waiting for it, with the counts only.
		buffered bool
		rate     int
		timeout  string // SHUTDOWN_TIMEOUT; "" is the default, 8 s
	}{
		{"slow acknowledgements", true, 256 << 10, "3s"},
		{"slow link", false, 256 << 10, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sigtermInFlight(t, tc.buffered, tc.rate, tc.timeout)
		})
	}
}

func sigtermInFlight(t *testing.T, buffered bool, rate int, timeout string) {
	ns := harness.StartNATS(t, "")
	harness.CreateIngressStream(t, ns.ClientURL(), "")
	proxy := harness.StartSlowProxy(t, ns.Addr().String(), rate, buffered)

	fake, ircURL := harness.StartFakeTwitch(t, twitchtest.Config{}, "tcp")
	channels := []string{"one", "two", "three"}
	env := map[string]string{
		"MESSAGE_BUS_DRIVER": "nats",
		"NATS_URL":           "nats://" + proxy.Addr(),
		// The publisher's memory-only path: an outbox would store
		// everything at once and keep it for the next start.
		"OUTBOX":          "off",
		"TWITCH_IRC_URL":  ircURL,
		"TWITCH_CHANNELS": strings.Join(channels, ","),
		"PORT":            "0",
	}
	if timeout != "" {
		env["SHUTDOWN_TIMEOUT"] = timeout
	}
	p := harness.Start(t, env)
	base := p.HTTPBase()
	harness.WaitFor(t, 15*time.Second, 10*time.Millisecond, "/readyz 200", func() (bool, string) {
		code, body := harness.Readyz(t, base)
		return code == http.StatusOK, strconv.Itoa(code) + " " + body
	})

	// Generate as fast as the service reads until it stops reading.
	var mu sync.Mutex
	sent := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		fake.Generate(ctx, twitchtest.Gen{Channels: channels, OnSent: func(id string, clients int) {
			if clients > 0 {
				mu.Lock()
				sent[id] = true
				mu.Unlock()
			}
		}})
	}()
	t.Cleanup(func() { cancel(); <-genDone })
	harness.WaitFor(t, 20*time.Second, 20*time.Millisecond, "thousands of messages in flight", func() (bool, string) {
		d := harness.Debug(t, base, "")
		return d.Bus.Pending >= 4000 && d.Bus.Acked > 0, strconv.Itoa(d.Bus.Pending) + " pending, " + strconv.FormatUint(d.Bus.Acked, 10) + " acked"
	})

	start := time.Now()
	p.Signal(syscall.SIGTERM)
	// Readiness goes false at once, while the bus drains.
	harness.WaitFor(t, time.Second, 10*time.Millisecond, "/readyz 503 at once", func() (bool, string) {
		code, body := harness.Readyz(t, base)
		return code == http.StatusServiceUnavailable && slices.Contains(harness.NotReady(t, body), "shutdown"), strconv.Itoa(code) + " " + body
	})
	time.Sleep(100 * time.Millisecond) // reading stops at once; what is sent after it stays unread
	cancel()
	<-genDone
	code, ok := p.Wait(10*time.Second - time.Since(start))
	elapsed := time.Since(start)
	proxy.Close() // what the proxy holds now never reaches the bus
	if !ok || code != 0 {
		t.Fatalf("after SIGTERM: exited %v with code %d after %v; want 0 within 10 s", ok, code, elapsed)
	}
	steps := []string{}
	for _, rec := range p.FindLogs("shutdown step done") {
		steps = append(steps, fmt.Sprint(rec["step"], " ", rec["duration"]))
	}
	t.Logf("exited %v after SIGTERM; steps: %s", elapsed.Round(time.Millisecond), strings.Join(steps, ", "))

	num := func(rec map[string]any, k string) int {
		f, ok := rec[k].(float64)
		if !ok {
			t.Fatalf("record %v has no number %s", rec, k)
		}
		return int(f)
	}
	// Reading stops before the bus drains: a line read then was either
	// accepted by the publisher or logged as not accepted, with its id.
	ingest := p.FindLogs("ingest stopped")
	if len(ingest) != 1 {
		t.Fatalf("%d \"ingest stopped\" records, want 1", len(ingest))
	}
	undelivered := map[string]bool{}
	notAccepted := p.FindLogs("envelope not accepted by the publisher")
	for _, rec := range notAccepted {
		id, _ := rec["msgId"].(string)
		if id == "" || undelivered[id] {
			t.Errorf("not accepted record without a fresh id: %v", rec)
		}
		undelivered[id] = true
	}
	envelopes := num(ingest[0], "envelopes")
	if num(ingest[0], "publishErrors") != len(notAccepted) {
		t.Errorf("ingest record %v: want %d publish errors (as logged)", ingest[0], len(notAccepted))
	}

	// What is on the bus.
	onBus := map[string]bool{}
	for _, m := range harness.ReadStream(t, ns.ClientURL(), "", "INGRESS", "internal.ingress.v1", 20*time.Second) {
		var e harness.Envelope
		if err := json.Unmarshal(m.Data, &e); err != nil || e.Payload.MessageID != m.MsgID {
			t.Errorf("bad message on the bus: %v %q", err, m.Data)
		}
		if onBus[m.MsgID] {
			t.Errorf("message %s on the bus twice", m.MsgID)
		}
		onBus[m.MsgID] = true
	}
	for _, m := range harness.ReadStream(t, ns.ClientURL(), "", "INGRESS", "internal.finalize.v1", 20*time.Second) {
		var ev struct {
			Payload struct {
				MsgID string `json:"msgId"`
			} `json:"payload"`
		}
		json.Unmarshal(m.Data, &ev)
		onBus[ev.Payload.MsgID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range onBus {
		if !sent[id] {
			t.Errorf("message %s on the bus was never sent", id)
		}
	}

	// Every id the publisher gave up on, from its bounded log entries.
	loggedIDs := func() int {
		ids := 0
		for _, rec := range p.FindLogs("bus: undelivered message ids") {
			list, _ := rec["msgIds"].([]any)
			if len(list) != num(rec, "count") {
				t.Errorf("undelivered record: count %d but %d ids", num(rec, "count"), len(list))
			}
			for _, id := range list {
				s, _ := id.(string)
				if !sent[s] {
					t.Errorf("undelivered message %q was never sent", s)
				}
				undelivered[s] = true
				ids++
			}
		}
		return ids
	}

	// The final log: the publisher's report, or the counts when the bus
	// driver was stuck.
	drained := p.FindLogs("bus drained")
	stuck := p.FindLogs("the bus did not close by the shutdown deadline: exiting without it")
	switch {
	case len(drained) == 1 && len(stuck) == 0:
		accepted, acked, failures := num(drained[0], "accepted"), num(drained[0], "acked"), num(drained[0], "failureEvents")
		lost := num(drained[0], "lost") + num(drained[0], "unknown")
		if accepted != acked+failures+lost || accepted != envelopes {
			t.Errorf("final counts: accepted %d (ingest: %d envelopes) != acked %d + failure events %d + lost or unknown %d", accepted, envelopes, acked, failures, lost)
		}
		if ids := loggedIDs(); ids != lost {
			t.Errorf("%d message ids logged as undelivered, %d counted lost or unknown", ids, lost)
		}
		covered, both := map[string]bool{}, 0
		for id := range onBus {
			covered[id] = true
		}
		for id := range undelivered {
			if covered[id] {
				both++ // given up on before its ack came: at least once
			}
			covered[id] = true
		}
		t.Logf("sent %d, read %d: %d acked, %d failure events, %d undelivered (%d of them reached the bus anyway), %d not accepted; %d on the bus",
			len(sent), accepted+len(notAccepted), acked, failures, lost, both, len(notAccepted), len(onBus))
		if len(covered) != accepted+len(notAccepted) {
			t.Errorf("%d messages read (%d accepted, %d not), but %d are on the bus or logged as undelivered",
				accepted+len(notAccepted), accepted, len(notAccepted), len(covered))
		}
		if lost == 0 || acked == 0 {
			t.Errorf("the service was not stopped with messages in flight (acked %d, undelivered %d): make the bus slower", acked, lost)
		}
	case len(stuck) == 1 && len(drained) == 0 && !buffered:
		accepted, acked, failures, unsettled := num(stuck[0], "accepted"), num(stuck[0], "acked"), num(stuck[0], "failureEvents"), num(stuck[0], "unsettled")
		lost := num(stuck[0], "lost") + num(stuck[0], "unknown")
		t.Logf("sent %d, read %d: %d acked, %d failure events, %d lost, %d unsettled when the service gave up on the bus, %d not accepted; %d on the bus",
			len(sent), accepted+len(notAccepted), acked, failures, lost, unsettled, len(notAccepted), len(onBus))
		if accepted != acked+failures+lost+unsettled || accepted != envelopes {
			t.Errorf("final counts: accepted %d (ingest: %d envelopes) != acked %d + failure events %d + lost %d + unsettled %d",
				accepted, envelopes, acked, failures, lost, unsettled)
		}
		if len(onBus) < acked+failures {
			t.Errorf("%d acked or failure events, but only %d on the bus", acked+failures, len(onBus))
		}
		if lost+unsettled == 0 {
			t.Errorf("the service was not stopped with messages in flight")
		}
		if ids := loggedIDs(); ids != lost+unsettled {
			t.Errorf("%d message ids logged as undelivered, %d lost, unknown or unsettled", ids, lost+unsettled)
		}
	default:
		t.Fatalf("final log: %d \"bus drained\" and %d \"did not close\" records (buffered %v)", len(drained), len(stuck), buffered)
	}
}

// TestE2EAdminChannels joins and parts channels at runtime through
// /_admin/channels, with ADMIN_TOKEN set (bearer required) and without it
// (loopback clients only; the refusal of other clients is tested in
// package server). The joins go through the JOIN rate limit: the fake
// server allows as many JOINs per 10 s as the service is configured for,
// and drops a connection that sends more.
func TestE2EAdminChannels(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	for _, tc := range []struct {
		name     string
		token    string
		joinRate int // per 10 s, on the fake server too
	}{
		{"without ADMIN_TOKEN", "", 20},
		{"with ADMIN_TOKEN, tight JOIN rate", "admin-e2e-token", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			adminChannels(t, tc.token, tc.joinRate)
		})
	}
}

func adminChannels(t *testing.T, token string, joinRate int) {
	ns := harness.StartNATS(t, "")
	harness.CreateIngressStream(t, ns.ClientURL(), "")
	fake, ircURL := harness.StartFakeTwitch(t, twitchtest.Config{JoinLimit: joinRate, JoinWindow: 10 * time.Second}, "ws")
	env := map[string]string{
		"MESSAGE_BUS_DRIVER": "nats",
		"NATS_URL":           ns.ClientURL(),
		"TWITCH_IRC_URL":     ircURL,
		"TWITCH_CHANNELS":    "first",
		"TWITCH_JOIN_RATE":   strconv.Itoa(joinRate),
		"PORT":               "0",
	}
	if token != "" {
		env["ADMIN_TOKEN"] = token
	}
	p := harness.Start(t, env)
	base := p.HTTPBase()
	waitReady := func(what string) {
		t.Helper()
		harness.WaitFor(t, 20*time.Second, 20*time.Millisecond, what, func() (bool, string) {
			code, body := harness.Readyz(t, base)
			return code == http.StatusOK, strconv.Itoa(code) + " " + body
		})
	}
	waitReady("/readyz 200 with the first channel")

	// Access: with a token configured, no or a wrong bearer is refused
	// (and nothing changes); without one, loopback clients need none.
	if token != "" {
		for _, bad := range []string{"", "wrong-token", token + "x"} {
			if code, body := harness.HTTPDo(t, http.MethodPost, base+"/_admin/channels", bad, `{"channels":["intruder"]}`); code != http.StatusUnauthorized {
				t.Errorf("POST with bearer %q: %d %s, want 401", bad, code, body)
			}
			if code, body := harness.HTTPDo(t, http.MethodDelete, base+"/_admin/channels/first", bad, ""); code != http.StatusUnauthorized {
				t.Errorf("DELETE with bearer %q: %d %s, want 401", bad, code, body)
			}
			if code, _ := harness.HTTPGet(t, base+"/_debug/twitch", bad); code != http.StatusUnauthorized {
				t.Errorf("/_debug/twitch with bearer %q: %d, want 401", bad, code)
			}
		}
		if d := harness.Debug(t, base, token); d.Twitch.Wanted != 1 {
			t.Fatalf("refused requests changed the channels: %d wanted", d.Twitch.Wanted)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := harness.HTTPGet(t, base+path, ""); code != http.StatusOK {
			t.Errorf("%s without a bearer: %d %s, want 200", path, code, body)
		}
	}
	if code, body := harness.HTTPDo(t, http.MethodPost, base+"/_admin/channels", token, `{"channels":["ok","bad name"]}`); code != http.StatusBadRequest {
		t.Errorf("POST with an invalid login: %d %s, want 400", code, body)
	}
	if code, body := harness.HTTPDo(t, http.MethodPost, base+"/_admin/channels", token, `{"logins":["x"]}`); code != http.StatusBadRequest {
		t.Errorf("POST without channels: %d %s, want 400", code, body)
	}

	// Join two channels. With the tight JOIN window (2 per 10 s, "first"
	// used one), new1 joins at once and new2 when the window lets it.
	code, body := harness.HTTPDo(t, http.MethodPost, base+"/_admin/channels", token, `{"channels":["#New1","new2"]}`)
	if code != http.StatusAccepted {
		t.Fatalf("POST /_admin/channels: %d %s, want 202", code, body)
	}
	harness.WaitFor(t, 5*time.Second, 20*time.Millisecond, "new1 joined", func() (bool, string) {
		cl := fake.Clients()
		return len(cl) == 1 && cl[0].InChannel("new1"), "not yet"
	})
	if joinRate == 2 {
		if code, body := harness.Readyz(t, base); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz with new2 waiting for the JOIN window: %d %s, want 503", code, body)
		}
	}
	waitReady("/readyz 200 with new2 joined")
	if st := fake.Stats(); st.JoinKicks != 0 || st.Logins != 1 || st.Joins != 3 {
		t.Errorf("fake server: %d JOIN kicks, %d logins, %d joins; want 0, 1, 3", st.JoinKicks, st.Logins, st.Joins)
	}

	// Envelopes flow for the new channels.
	sent := map[string]harness.Sent{}
	harness.Generate(t, fake, []string{"new1", "new2", "first"}, 300, sent)
	harness.WaitAcked(t, base, token, 300)
	harness.CheckEnvelopes(t, harness.ReadStream(t, ns.ClientURL(), "", "INGRESS", "internal.ingress.v1", 20*time.Second), sent)

	// Part new1: the server sees the PART, its messages no longer reach
	// the service.
	if code, body := harness.HTTPDo(t, http.MethodDelete, base+"/_admin/channels/new1", token, ""); code != http.StatusAccepted {
		t.Fatalf("DELETE /_admin/channels/new1: %d %s, want 202", code, body)
	}
	harness.WaitFor(t, 5*time.Second, 20*time.Millisecond, "new1 parted", func() (bool, string) {
		cl := fake.Clients()
		return len(cl) == 1 && !cl[0].InChannel("new1") && cl[0].InChannel("new2"), "still in new1"
	})
	d := harness.Debug(t, base, token)
	if d.Twitch.Wanted != 2 || d.Twitch.Joined != 2 || !d.Twitch.Ready {
		t.Errorf("after the part: wanted %d, joined %d, ready %v; want 2, 2, true", d.Twitch.Wanted, d.Twitch.Joined, d.Twitch.Ready)
	}
	if n := fake.Broadcast("new1", twitchtest.PrivmsgLine("new1", twitchtest.MessageID(1<<40), 1)); n != 0 {
		t.Errorf("a message in the parted channel reached %d clients", n)
	}
	p.Signal(syscall.SIGTERM)
	if code, ok := p.Wait(10 * time.Second); !ok || code != 0 {
		t.Errorf("after SIGTERM: exited %v with code %d", ok, code)
	}
}

// TestE2ESecondSignal: a second signal during the drain ends the process at
// once.
func TestE2ESecondSignal(t *testing.T) {
	harness.Binary(t)
	t.Parallel()
	ns := harness.StartNATS(t, "")
	harness.CreateIngressStream(t, ns.ClientURL(), "")
	proxy := harness.StartSlowProxy(t, ns.Addr().String(), 64<<10, true)
	fake, ircURL := harness.StartFakeTwitch(t, twitchtest.Config{}, "tcp")
	p := harness.Start(t, map[string]string{
		"MESSAGE_BUS_DRIVER": "nats",
		"NATS_URL":           "nats://" + proxy.Addr(),
		"TWITCH_IRC_URL":     ircURL,
		"TWITCH_CHANNELS":    "one",
		"PORT":               "0",
		// The publisher's memory path, held by a slow bus: an outbox
		// would take every message at once, leaving nothing pending.
		"OUTBOX": "off",
	})
	base := p.HTTPBase()
	harness.WaitFor(t, 15*time.Second, 10*time.Millisecond, "/readyz 200", func() (bool, string) {
		code, body := harness.Readyz(t, base)
		return code == http.StatusOK, strconv.Itoa(code) + " " + body
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fake.Generate(ctx, twitchtest.Gen{Channels: []string{"one"}, Count: 2000})
	// The lines must have reached the publisher, or there is nothing to drain.
	harness.WaitFor(t, 10*time.Second, 20*time.Millisecond, "envelopes waiting for the slow bus", func() (bool, string) {
		n := harness.Metric(t, harness.Metrics(t, base), "ingress_bus_pending", "")
		return n >= 100, strconv.FormatFloat(n, 'f', 0, 64) + " pending"
	})
	p.Signal(syscall.SIGTERM)
	p.WaitLog("shutdown step done", 5*time.Second) // reading stopped; the bus drains for up to 8 s
	start := time.Now()
	p.Signal(syscall.SIGINT)
	if _, ok := p.Wait(2 * time.Second); !ok {
		t.Fatalf("still running %v after the second signal", time.Since(start))
	}
	if len(p.FindLogs("bus drained")) != 0 {
		t.Errorf("the drain finished: the bus was not slow enough for the test")
	}
}
