package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingress-egress/ingress-egress/bus"
)

func TestLoggerCloudLoggingShape(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, "json", slog.LevelInfo, "proj")
	log.With("component", "twitch").Warn("reconnecting", "reason", "RECONNECT", "trace", "abc123")
	log.Debug("hidden")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %v\n%s", err, buf.String())
	}
	for k, want := range map[string]string{
		"severity": "WARNING", "message": "reconnecting", "service": "ingress-egress",
		"component": "twitch", "logging.googleapis.com/trace": "projects/proj/traces/abc123",
	} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %q", k, rec[k], want)
		}
	}
	if _, ok := rec["time"]; !ok {
		t.Errorf("no time in %v", rec)
	}
}

func TestLoggerRateLimitsRepeatedErrors(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, "json", slog.LevelInfo, "")
	for i := 0; i < 100; i++ {
		log.Error("publish failed", "i", i)
	}
	log.Info("state change")
	if n := strings.Count(buf.String(), "publish failed"); n != 5 {
		t.Errorf("%d repeated errors logged, want 5", n)
	}
	if !strings.Contains(buf.String(), "state change") {
		t.Errorf("info record was suppressed")
	}
}

// TestLoggerPassesBusUndeliveredIDs: the bus's entries of undelivered ids
// bypass the rate limit, however many there are (a full queue given up at
// shutdown is 9 entries of the same message), and do not count against it.
func TestLoggerPassesBusUndeliveredIDs(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, "json", slog.LevelInfo, "")
	var r bus.Report
	for i := range 8192 {
		r.Undelivered = append(r.Undelivered, bus.Undelivered{Subject: "internal.ingress.v1", MsgID: fmt.Sprintf("id-%d", i)})
	}
	r.Log(log.With("component", "bus"))
	ids := 0
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var rec struct {
			Message string
			MsgIDs  []string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		ids += len(rec.MsgIDs)
	}
	if ids != 8192 {
		t.Errorf("%d of 8192 ids logged through the rate-limited logger", ids)
	}
	buf.Reset()
	for i := 0; i < 6; i++ {
		log.Error("bus: undelivered message ids", "i", i)
	}
	if n := strings.Count(buf.String(), "undelivered message ids"); n != 5 {
		t.Errorf("unmarked records: %d passed, want the limit of 5", n)
	}
}

func TestLoggerOmitsUnknownTrace(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf, "json", slog.LevelInfo, "proj").Error("message lost", "trace", "")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %v\n%s", err, buf.String())
	}
	if v, ok := rec["logging.googleapis.com/trace"]; ok {
		t.Errorf("empty trace logged as %v", v)
	}
	if _, ok := rec["trace"]; ok {
		t.Errorf("empty trace logged as trace in %v", rec)
	}
}

// TestLogFormatAuto checks the default LOG_FORMAT: JSON into a pipe, a
// file or a buffer; text into a character device, as a terminal is
// (/dev/null stands in for one: CI has no terminal).
func TestLogFormatAuto(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, tc := range []struct {
		name string
		w    io.Writer
		json bool
	}{{"pipe", w, true}, {"file", file, true}, {"buffer", &bytes.Buffer{}, true}, {"character device", null, false}} {
		h := newLogger(tc.w, "auto", slog.LevelInfo, "").Handler().(*rateLimited).next
		_, isJSON := h.(*slog.JSONHandler)
		_, isText := h.(*slog.TextHandler)
		if isJSON != tc.json || isText == tc.json {
			t.Errorf("%s: handler %T, want JSON %v", tc.name, h, tc.json)
		}
	}
	var help bytes.Buffer
	run([]string{"--help"}, noEnv, nil, &help, &help)
	if !strings.Contains(help.String(), "auto: text when stderr is a terminal, else json") {
		t.Errorf("--help does not say how LOG_FORMAT's default is chosen:\n%s", help.String())
	}
}
