package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type fakeAdmin struct{ added, removed []string }

func (f *fakeAdmin) AddChannels(_ context.Context, l ...string) error {
	if len(l) == 1 && l[0] == "bad name" {
		return errors.New(`twitch: invalid channel name "bad name": ' ' at byte 3 is not a-z, 0-9 or _`)
	}
	f.added = append(f.added, l...)
	return nil
}
func (f *fakeAdmin) RemoveChannels(_ context.Context, l ...string) error {
	f.removed = append(f.removed, l...)
	return nil
}

func do(h http.Handler, method, path, remote, auth, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestReadyAndLive(t *testing.T) {
	twitchReady, busReady := false, true
	alive := error(nil)
	s := New(Options{
		Ready: map[string]Readiness{
			"twitch": ReadyFunc(func() bool { return twitchReady }),
			"bus":    ReadyFunc(func() bool { return busReady }),
		},
		Live: func() error { return alive },
	})
	h := s.Handler()
	w := do(h, "GET", "/readyz", "127.0.0.1:1", "", "")
	if w.Code != 503 || !strings.Contains(w.Body.String(), `"twitch"`) || strings.Contains(w.Body.String(), `"bus"`) {
		t.Errorf("readyz with twitch down = %d %s", w.Code, w.Body)
	}
	twitchReady = true
	if w := do(h, "GET", "/readyz", "127.0.0.1:1", "", ""); w.Code != 200 {
		t.Errorf("readyz all ready = %d %s", w.Code, w.Body)
	}
	s.SetDraining()
	if w := do(h, "GET", "/readyz", "127.0.0.1:1", "", ""); w.Code != 503 || !strings.Contains(w.Body.String(), "shutdown") {
		t.Errorf("readyz draining = %d %s", w.Code, w.Body)
	}
	for _, p := range []string{"/healthz", "/livez"} {
		if w := do(h, "GET", p, "203.0.113.9:1", "", ""); w.Code != 200 {
			t.Errorf("%s = %d", p, w.Code)
		}
	}
	alive = errors.New("reader stuck for 2m")
	if w := do(h, "GET", "/livez", "127.0.0.1:1", "", ""); w.Code != 503 {
		t.Errorf("livez stuck = %d", w.Code)
	}
}

func TestAdminAccess(t *testing.T) {
	adm := &fakeAdmin{}
	debug := func() any { return map[string]any{"connections": 1} }
	open := New(Options{Debug: debug, Channels: adm}).Handler()
	if w := do(open, "GET", "/_debug/twitch", "127.0.0.1:5", "", ""); w.Code != 200 || !json.Valid(w.Body.Bytes()) {
		t.Errorf("debug from loopback without token = %d %s", w.Code, w.Body)
	}
	if w := do(open, "GET", "/_debug/twitch", "[::1]:5", "", ""); w.Code != 200 {
		t.Errorf("debug from ::1 = %d", w.Code)
	}
	if w := do(open, "GET", "/_debug/twitch", "198.51.100.7:5", "", ""); w.Code != 403 {
		t.Errorf("debug from remote without token = %d, want 403", w.Code)
	}
	if w := do(open, "POST", "/_admin/channels", "198.51.100.7:5", "", `{"channels":["a"]}`); w.Code != 403 {
		t.Errorf("admin from remote without token = %d, want 403", w.Code)
	}

	locked := New(Options{Debug: debug, Channels: adm, AdminToken: "s3cret"}).Handler()
	for _, auth := range []string{"", "Bearer wrong", "s3cret", "Basic s3cret"} {
		if w := do(locked, "GET", "/_debug/twitch", "127.0.0.1:5", auth, ""); w.Code != 401 {
			t.Errorf("debug with auth %q = %d, want 401", auth, w.Code)
		}
	}
	if w := do(locked, "GET", "/_debug/twitch", "198.51.100.7:5", "Bearer s3cret", ""); w.Code != 200 {
		t.Errorf("debug with token = %d", w.Code)
	}
	if w := do(locked, "POST", "/_admin/channels", "198.51.100.7:5", "Bearer s3cret", `{"channels":["a","b"]}`); w.Code != 202 {
		t.Errorf("add channels = %d %s", w.Code, w.Body)
	}
	if w := do(locked, "POST", "/_admin/channels", "127.0.0.1:5", "Bearer s3cret", `{"channels":["bad name"]}`); w.Code != 400 || !strings.Contains(w.Body.String(), `"bad name": ' ' at byte 3`) {
		t.Errorf("add bad channel = %d %q, want 400 with the reason", w.Code, w.Body)
	}
	if w := do(locked, "POST", "/_admin/channels", "127.0.0.1:5", "Bearer s3cret", `nope`); w.Code != 400 {
		t.Errorf("add with bad body = %d", w.Code)
	}
	if w := do(locked, "DELETE", "/_admin/channels/c", "127.0.0.1:5", "Bearer s3cret", ""); w.Code != 202 {
		t.Errorf("remove channel = %d", w.Code)
	}
	if strings.Join(adm.added, ",") != "a,b" || strings.Join(adm.removed, ",") != "c" {
		t.Errorf("admin calls: added %v removed %v", adm.added, adm.removed)
	}
}

func TestMetricsExposition(t *testing.T) {
	h := New(Options{Metrics: func(w io.Writer) {
		m := NewMetricWriter(w)
		m.CounterMap("ingress_lines_received_total", "Lines received, by command.", "command", map[string]uint64{"PRIVMSG": 10, "PING": 2})
		m.Gauge("ingress_queue_depth", "Messages waiting.", 3)
		m.Counter("ingress_reconnects_total", "Reconnects by reason.", 1, Label{"reason", `say "hi"\` + "\n"})
		m.Histogram("ingress_ack_latency_seconds", "Receive to ack.", []float64{0.001, 0.01, 0.1}, []uint64{5, 3, 1}, 10, 0.5)
	}}).Handler()
	w := do(h, "GET", "/metrics", "10.0.0.1:1", "", "")
	if w.Code != 200 {
		t.Fatalf("metrics = %d", w.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatalf("expfmt rejects our exposition: %v\n%s", err, w.Body)
	}
	if got := fams["ingress_lines_received_total"].GetMetric(); len(got) != 2 {
		t.Errorf("lines family has %d samples", len(got))
	}
	hist := fams["ingress_ack_latency_seconds"].GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 10 || hist.GetBucket()[2].GetCumulativeCount() != 9 {
		t.Errorf("histogram parsed as %v", hist)
	}
	if v := fams["ingress_reconnects_total"].GetMetric()[0].GetLabel()[0].GetValue(); v != `say "hi"\`+"\n" {
		t.Errorf("label value round trip = %q", v)
	}
}

func TestPprofIsGuarded(t *testing.T) {
	h := New(Options{AdminToken: "s3cret"}).Handler()
	if w := do(h, "GET", "/_debug/pprof/heap?debug=1", "127.0.0.1:1", "", ""); w.Code != 401 {
		t.Errorf("pprof without token = %d, want 401", w.Code)
	}
	w := do(h, "GET", "/_debug/pprof/heap?debug=1", "127.0.0.1:1", "Bearer s3cret", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "heap profile") {
		t.Errorf("pprof heap with token = %d %.80q", w.Code, w.Body.String())
	}
	if w := do(h, "GET", "/_debug/pprof/", "127.0.0.1:1", "Bearer s3cret", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("pprof index = %d", w.Code)
	}
	if w := do(New(Options{}).Handler(), "GET", "/_debug/pprof/goroutine", "198.51.100.1:1", "", ""); w.Code != 403 {
		t.Errorf("pprof from remote without token = %d, want 403", w.Code)
	}
}

// TestDebugServesNoArgv: the process's command line can carry secrets
// (--client-secret, --oauth-token, --nats-token, --admin-token), so no
// /_debug path may echo it, pprof's cmdline included.
func TestDebugServesNoArgv(t *testing.T) {
	const canary = "CANARY-argv-7d3f9c"
	saved := os.Args
	os.Args = append([]string{saved[0]}, "--client-secret="+canary, "--admin-token", canary+"-admin")
	defer func() { os.Args = saved }()

	h := New(Options{AdminToken: "s3cret", Debug: func() any { return map[string]int{"connections": 1} }}).Handler()
	for _, path := range []string{
		"/_debug/twitch",
		"/_debug/pprof/",
		"/_debug/pprof/cmdline",
		"/_debug/pprof/cmdline?debug=1",
		"/_debug/pprof/symbol",
		"/_debug/pprof/goroutine?debug=1",
		"/_debug/pprof/goroutine?debug=2",
		"/_debug/pprof/heap?debug=1",
		"/_debug/pprof/allocs?debug=1",
		"/_debug/pprof/threadcreate?debug=1",
		"/_debug/pprof/block?debug=1",
		"/_debug/pprof/mutex?debug=1",
	} {
		w := do(h, "GET", path, "127.0.0.1:1", "Bearer s3cret", "")
		body := w.Body.String()
		if strings.Contains(body, canary) || strings.Contains(body, "--client-secret") {
			t.Errorf("GET %s = %d and echoes the command line: %.200q", path, w.Code, body)
		}
		if path == "/_debug/pprof/cmdline" && w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, w.Code)
		}
	}
}
