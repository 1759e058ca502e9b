package harness

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// HTTPClient is the client of the HTTP helpers: every request is bounded.
var HTTPClient = &http.Client{Timeout: 5 * time.Second}

// HTTPDo makes one request, with token as a bearer unless empty and body as
// JSON unless empty, and returns the status and the body (up to 16 MiB).
func HTTPDo(t testing.TB, method, url, token string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := HTTPClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

// HTTPGet is HTTPDo with GET and no body.
func HTTPGet(t testing.TB, url, token string) (int, string) {
	t.Helper()
	return HTTPDo(t, http.MethodGet, url, token, "")
}

// Readyz returns /readyz's status and body.
func Readyz(t testing.TB, base string) (int, string) {
	t.Helper()
	return HTTPGet(t, base+"/readyz", "")
}

// NotReady returns what a /readyz body names as not ready.
func NotReady(t testing.TB, body string) []string {
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

// DebugSnapshot is the part of /_debug/twitch the tests read.
type DebugSnapshot struct {
	Bus struct {
		Ready         bool   `json:"ready"`
		Pending       int    `json:"pending"`
		Accepted      uint64 `json:"accepted"`
		Acked         uint64 `json:"acked"`
		FailureEvents uint64 `json:"failureEvents"`
		Lost          uint64 `json:"lost"`
	} `json:"bus"`
	Credentials struct {
		Mode  string `json:"mode"`
		Ready bool   `json:"ready"`
	} `json:"credentials"`
	Ingest struct {
		Envelopes     uint64 `json:"envelopes"`
		NotEnabled    uint64 `json:"notEnabled"`
		NoEnvelope    uint64 `json:"noEnvelope"`
		PublishErrors uint64 `json:"publishErrors"`
	} `json:"ingest"`
	Twitch struct {
		Ready       bool   `json:"ready"`
		Wanted      int    `json:"wanted"`
		Joined      int    `json:"joined"`
		Gaps        uint64 `json:"gaps"`
		Connections []struct {
			State               string   `json:"state"`
			Joined              []string `json:"joined"`
			Pending             []string `json:"pending"`
			LastReconnect       string   `json:"lastReconnect"`
			LastReconnectReason string   `json:"lastReconnectReason"`
			Counters            struct {
				Lines         uint64            `json:"lines"`
				ByCommand     map[string]uint64 `json:"byCommand"`
				Reconnects    uint64            `json:"reconnects"`
				LoginFailures uint64            `json:"loginFailures"`
			} `json:"counters"`
		} `json:"connections"`
	} `json:"twitch"`
}

// Debug reads /_debug/twitch (with token as the bearer unless empty); an
// answer other than 200 with JSON fails the test.
func Debug(t testing.TB, base, token string) DebugSnapshot {
	t.Helper()
	code, body := HTTPGet(t, base+"/_debug/twitch", token)
	if code != http.StatusOK {
		t.Fatalf("/_debug/twitch: %d %s", code, body)
	}
	var d DebugSnapshot
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("/_debug/twitch is not JSON: %v\n%s", err, body)
	}
	return d
}

// DebugMap returns /_debug/twitch as a generic JSON object, for fields
// DebugSnapshot does not have (see Field).
func DebugMap(t testing.TB, base, token string) map[string]any {
	t.Helper()
	code, body := HTTPGet(t, base+"/_debug/twitch", token)
	if code != http.StatusOK {
		t.Fatalf("/_debug/twitch: %d %s", code, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("/_debug/twitch: %v", err)
	}
	return m
}

// Field returns the value at keys inside nested JSON objects, or nil.
func Field(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// MetricFamily is one parsed metric family: its type ("COUNTER", "GAUGE",
// "HISTOGRAM", …) and its samples by label set ("name=value,..."; "" without
// labels). A histogram's sample is its count.
type MetricFamily struct {
	Type    string
	Samples map[string]float64
}

// Metrics scrapes /metrics and parses it with the Prometheus parser; text
// the parser rejects fails the test.
func Metrics(t testing.TB, base string) map[string]*MetricFamily {
	t.Helper()
	code, body := HTTPGet(t, base+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("expfmt rejects /metrics: %v\n%s", err, body)
	}
	out := make(map[string]*MetricFamily, len(fams))
	for name, f := range fams {
		df := &MetricFamily{Type: f.GetType().String(), Samples: map[string]float64{}}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := 0.0
			switch {
			case m.Counter != nil:
				v = m.GetCounter().GetValue()
			case m.Gauge != nil:
				v = m.GetGauge().GetValue()
			case m.Histogram != nil:
				v = float64(m.GetHistogram().GetSampleCount())
			case m.Untyped != nil:
				v = m.GetUntyped().GetValue()
			}
			df.Samples[strings.Join(labels, ",")] = v
		}
		out[name] = df
	}
	return out
}

// Metric returns the sample of family name with labels, failing the test
// when it is missing.
func Metric(t testing.TB, fams map[string]*MetricFamily, name, labels string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric family %s missing", name)
	}
	v, ok := f.Samples[labels]
	if !ok {
		t.Fatalf("metric %s{%s} missing (have %v)", name, labels, f.Samples)
	}
	return v
}
