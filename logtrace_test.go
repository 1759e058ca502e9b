package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/bustest"
	"github.com/ingress-egress/ingress-egress/envelope"
	"github.com/ingress-egress/ingress-egress/twitch"
)

// TestRefusedEnvelopeLogCarriesTrace checks that the per-message error of
// an envelope the publisher refuses names its id and its trace in Cloud
// Logging's trace field.
func TestRefusedEnvelopeLogCarriesTrace(t *testing.T) {
	var buf bytes.Buffer
	pub := bus.New(bustest.New(), bus.Options{})
	if _, err := pub.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	in := newIngest(pub, bus.Ingress, &envelope.Options{}, newLogger(&buf, "json", slog.LevelInfo, "proj"))
	var l twitch.Line
	if err := l.Msg.Parse([]byte(ingestLine)); err != nil {
		t.Fatal(err)
	}
	l.Raw, l.Received = []byte(ingestLine), time.Now()
	if err := in.HandleLine(context.Background(), &l); err == nil {
		t.Fatal("HandleLine on a closed publisher = nil, want an error")
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %v\n%s", err, buf.String())
	}
	trace, _ := rec["logging.googleapis.com/trace"].(string)
	if rec["message"] != "envelope not accepted by the publisher" || rec["msgId"] != "2f3c1a4e-3b7d-4a59-9f43-1f0e1c2d3a4b" ||
		!regexp.MustCompile(`^projects/proj/traces/[0-9a-f]{32}$`).MatchString(trace) {
		t.Errorf("log record %v, want the message, its msgId and projects/proj/traces/<32 hex>", rec)
	}
}
