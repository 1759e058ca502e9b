package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/bustest"
	"github.com/ingress-egress/ingress-egress/envelope"
	"github.com/ingress-egress/ingress-egress/ircv3"
	"github.com/ingress-egress/ingress-egress/twitch"
)

const ingestLine = `@badge-info=;badges=vip/1;color=#1E90FF;display-name=Alice;emotes=25:0-4;id=2f3c1a4e-3b7d-4a59-9f43-1f0e1c2d3a4b;mod=0;room-id=42;subscriber=0;tmi-sent-ts=1700000000000;user-id=7;vip=1 :alice!alice@alice.tmi.twitch.tv PRIVMSG #chan :Kappa hello`

func newTestIngest(t testing.TB, opts bus.Options) (*ingest, *bus.Publisher, *bustest.Driver) {
	d := bustest.New()
	pub := bus.New(d, opts)
	return newIngest(pub, "dev."+bus.Ingress, &envelope.Options{}, slog.New(slog.DiscardHandler)), pub, d
}

func TestIngestPublishesEnvelopeWithIDs(t *testing.T) {
	in, pub, d := newTestIngest(t, bus.Options{})
	var l twitch.Line
	for _, raw := range []string{ingestLine, "PING :tmi.twitch.tv", ":tmi.twitch.tv PRIVMSG #chan"} {
		if err := l.Msg.Parse([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		l.Raw, l.Received = []byte(raw), time.Now()
		if err := in.HandleLine(context.Background(), &l); err != nil {
			t.Fatalf("HandleLine(%q) = %v", raw, err)
		}
	}
	if _, err := pub.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := d.Delivered()
	if len(got) != 1 {
		t.Fatalf("%d messages published, want 1", len(got))
	}
	m := got[0]
	if m.Subject != "dev.internal.ingress.v1" || m.MsgID != "2f3c1a4e-3b7d-4a59-9f43-1f0e1c2d3a4b" || m.ContentType != "application/json" {
		t.Errorf("published %q msgid %q type %q", m.Subject, m.MsgID, m.ContentType)
	}
	if !regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`).MatchString(m.TraceParent) {
		t.Errorf("traceparent %q is not W3C", m.TraceParent)
	}
	var env struct {
		TraceID string `json:"traceId"`
		Payload struct {
			Text      string `json:"text"`
			MessageID string `json:"messageId"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(m.Data, &env); err != nil {
		t.Fatalf("envelope is not JSON: %v", err)
	}
	if env.Payload.Text != "Kappa hello" || env.Payload.MessageID != m.MsgID {
		t.Errorf("envelope payload %+v", env.Payload)
	}
	if want := strings.ReplaceAll(env.TraceID, "-", ""); m.TraceParent[3:35] != want {
		t.Errorf("traceparent %q does not carry the envelope's traceId %q", m.TraceParent, env.TraceID)
	}
	c := in.counters()
	if c.Envelopes != 1 || c.NotEnabled != 1 || c.NoEnvelope != 1 {
		t.Errorf("counters %+v, want 1 envelope, 1 not enabled, 1 without envelope", c)
	}
}

// One allocation per published line: the string shared by the message id
// and the traceparent. Parsing, the envelope and the enqueue allocate
// nothing.
func TestIngestAllocatesOncePerLine(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	// A small queue, so that the warm-up has used every slot's buffer.
	in, pub, d := newTestIngest(t, bus.Options{MaxQueue: 16})
	d.SetRecord(false) // the fake driver's copies are not ours to count
	defer pub.Close(context.Background())
	var l twitch.Line
	raw := []byte(ingestLine)
	l.Raw, l.Received = raw, time.Now()
	if err := l.Msg.Parse(raw); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 100 { // warm the pool and the queue's buffers
		in.HandleLine(ctx, &l)
	}
	pub.Flush(ctx)
	n := testing.AllocsPerRun(200, func() {
		var m ircv3.Message
		m.Parse(raw)
		l.Msg = m
		if err := in.HandleLine(ctx, &l); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Errorf("HandleLine allocates %v times per line, want at most 1", n)
	}
}

// BenchmarkIngest: one line through HandleLine (envelope, ids, the
// publisher's queue) into a driver that acknowledges at once.
func BenchmarkIngest(b *testing.B) {
	in, pub, d := newTestIngest(b, bus.Options{})
	d.SetRecord(false)
	defer pub.Close(context.Background())
	var l twitch.Line
	raw := []byte(ingestLine)
	l.Raw, l.Received = raw, time.Now()
	if err := l.Msg.Parse(raw); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := in.HandleLine(ctx, &l); err != nil {
			b.Fatal(err)
		}
	}
	pub.Flush(ctx)
}
