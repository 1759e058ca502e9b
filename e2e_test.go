package main

// End-to-end tests of the service binary: the built binary as a process,
// the fake Twitch server (twitch/twitchtest) in the test, and the bus read
// back with a NATS client.

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// generate sends count PRIVMSGs round robin over channels as fast as the
// service reads them and returns what was sent, by message id. Every
// message must reach exactly one client (the service).
func generate(t *testing.T, fake *twitchtest.Server, channels []string, count int, sent map[string]sentMsg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, unseen := 0, 0
	got := fake.Generate(ctx, twitchtest.Gen{
		Channels: channels,
		Count:    count,
		OnSent: func(id string, clients int) {
			sent[id] = sentMsg{channel: channels[n%len(channels)], n: n}
			n++
			if clients != 1 {
				unseen++
			}
		},
	})
	if got != count {
		t.Fatalf("generated %d of %d messages within 30 s", got, count)
	}
	if unseen > 0 {
		t.Fatalf("%d of %d messages did not reach exactly one client", unseen, count)
	}
}

// waitAcked waits until the publisher has settled every accepted message
// and acked is want.
func waitAcked(t *testing.T, base, token string, want uint64) debugSnapshot {
	t.Helper()
	var d debugSnapshot
	waitFor(t, 20*time.Second, 20*time.Millisecond, "every envelope acknowledged", func() (bool, string) {
		d = getDebug(t, base, token)
		return d.Bus.Acked == want && d.Bus.Pending == 0, "bus " + strconv.FormatUint(d.Bus.Acked, 10) + " acked, " + strconv.Itoa(d.Bus.Pending) + " pending"
	})
	return d
}

func notReady(t *testing.T, body string) []string {
	t.Helper()
	var v struct {
		Ready    bool     `json:"ready"`
		NotReady []string `json:"notReady"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("/readyz body is not JSON: %v: %q", err, body)
	}
	return v.NotReady
}

func TestE2EPipeline(t *testing.T) {
	serviceBinary(t)
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

	natsPort := freePort(t)
	dataDir := t.TempDir()
	p := startProc(t, map[string]string{
		"TWITCH_IRC_URL":           "ws://" + ln.Addr().String(),
		"TWITCH_CHANNELS":          strings.Join(channels, ","),
		"PORT":                     "0",
		"DATA_DIR":                 dataDir,
		"EMBEDDED_NATS_PORT":       strconv.Itoa(natsPort),
		"IRC_RECONNECT_INITIAL_MS": "100",
		"IRC_RECONNECT_MAX_MS":     "500",
	})
	base := p.httpBase()
	busRec := p.waitLog("embedded NATS bus ready: watch the envelopes with a NATS client", 5*time.Second)
	natsURL := "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	if busRec["natsUrl"] != natsURL || busRec["stream"] != "INGRESS" || busRec["subject"] != "internal.ingress.v1" {
		t.Errorf("embedded bus record %v, want natsUrl %s, stream INGRESS, subject internal.ingress.v1", busRec, natsURL)
	}

	// 503 before the joins, naming only what is missing.
	if code, body := readyz(t, base); code != http.StatusServiceUnavailable || !slices.Equal(notReady(t, body), []string{"twitch"}) {
		t.Fatalf("/readyz before the joins: %d %s, want 503 naming twitch only", code, body)
	}
	for _, path := range []string{"/healthz", "/livez"} {
		if code, body := httpGet(t, base+path, ""); code != http.StatusOK {
			t.Errorf("%s with Twitch unreachable: %d %s, want 200 (an outage must not restart the process)", path, code, body)
		}
	}

	// 200 after the joins.
	if err := fake.Serve(ln, "ws"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, 10*time.Millisecond, "/readyz 200 after the joins", func() (bool, string) {
		code, body := readyz(t, base)
		return code == http.StatusOK, strconv.Itoa(code) + " " + body
	})
	if clients := fake.Clients(); len(clients) != 1 || !slices.Equal(clients[0].Channels(), channels) {
		t.Fatalf("fake server clients %d, want one in %v", len(clients), channels)
	}

	sent := map[string]sentMsg{}
	generate(t, fake, channels, first, sent)
	waitAcked(t, base, "", first)

	// The server drops the connection: 503, then 200 after the reconnect.
	fake.CloseAll()
	waitFor(t, 5*time.Second, 2*time.Millisecond, "/readyz 503 after the drop", func() (bool, string) {
		code, body := readyz(t, base)
		return code == http.StatusServiceUnavailable && slices.Contains(notReady(t, body), "twitch"), strconv.Itoa(code) + " " + body
	})
	waitFor(t, 15*time.Second, 10*time.Millisecond, "/readyz 200 after the reconnect", func() (bool, string) {
		code, body := readyz(t, base)
		return code == http.StatusOK, strconv.Itoa(code) + " " + body
	})
	generate(t, fake, channels, second, sent)
	const total = first + second
	d := waitAcked(t, base, "", total)

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
	fams := metricFamilies(t, base)
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
	} {
		if got := metric(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	var byCmd float64
	for _, v := range fams["ingress_lines_received_by_command_total"].samples {
		byCmd += v
	}
	if lines := metric(t, fams, "ingress_lines_received_total", ""); lines != byCmd {
		t.Errorf("ingress_lines_received_total %v, but the lines by command add up to %v", lines, byCmd)
	}
	for name, f := range fams {
		if strings.HasSuffix(name, "_total") && f.typ != "COUNTER" {
			t.Errorf("%s is a %s, want a counter", name, f.typ)
		}
	}

	// Every envelope on the bus, exactly once, with the right content.
	msgs := readStream(t, natsURL, "", "INGRESS", "internal.ingress.v1", 20*time.Second)
	checkEnvelopes(t, msgs, sent)

	// A clean stop.
	start := time.Now()
	p.signal(syscall.SIGTERM)
	code, ok := p.wait(10 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("after SIGTERM: exited %v, code %d, after %v; want 0 within 10 s", ok, code, time.Since(start))
	}
	drained := p.findLogs("bus drained")
	if len(drained) != 1 || drained[0]["accepted"] != float64(total) || drained[0]["acked"] != float64(total) {
		t.Errorf("final bus record %v, want accepted and acked %d", drained, total)
	}
	for _, rec := range p.logs() {
		if sev := rec["severity"]; sev == "ERROR" {
			t.Errorf("error logged in a clean run: %v", rec)
		}
	}
}
