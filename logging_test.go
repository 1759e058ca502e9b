package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
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
