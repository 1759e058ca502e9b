// Package bench holds the end-to-end benchmarks and peer comparisons.
//
// bus_test.go guards the publisher's overhead: bus.Publisher with the natsbus
// driver against the ceiling, a raw nats.go loop with the same window and the
// same headers, for ~1.1 KB envelopes, against an in-process nats-server on
// loopback:
//
//   - BenchmarkBusJetStream/impl=raw: jetstream PublishMsgAsync with
//     Nats-Msg-Id, at most Window acks pending; impl=ours: bus.Publisher
//     (BatchSize*MaxInFlight = Window) over natsbus in JetStream mode.
//     Target: ours ≥ 85 % of raw.
//   - BenchmarkBusCore/impl=raw: nc.PublishMsg with the same headers;
//     impl=ours: bus.Publisher over natsbus in core mode. Target ≥ 90 %.
//
// Run bus.sh for the -count 10 benchstat table.
package bench

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
)

const (
	subject   = "internal.ingress.v1"
	window    = 4096
	batchSize = 256
)

var (
	quiet = slog.New(slog.DiscardHandler)
	// payload is the size of a chat envelope with its raw tags.
	payload = append([]byte(`{"v":"1","type":"external.chat.message.v1","payload":{"text":"`),
		append(bytes.Repeat([]byte("x"), 1040), `"}}`...)...)
	traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
)

var stallWait = jetstream.WithStallWait(time.Minute)

func startServer(b *testing.B) *server.Server {
	b.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: b.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats-server not ready")
	}
	b.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "INGRESS", Subjects: []string{subject, bus.Finalize}, Duplicates: 2 * time.Minute,
	}); err != nil {
		b.Fatal(err)
	}
	return s
}

func report(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBusJetStream(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) {
		s := startServer(b)
		nc, err := nats.Connect(s.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window),
			jetstream.WithPublishAsyncTimeout(5*time.Second))
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		var id []byte
		i := 0
		for b.Loop() {
			id = strconv.AppendInt(id[:0], int64(i), 10)
			i++
			h := nats.Header{natsbus.HeaderMsgID: {string(id)}, natsbus.HeaderTraceParent: {traceparent},
				natsbus.HeaderContentType: {"application/json"}}
			// A long stall wait: the raw loop waits for room in the window
			// as ours does, instead of failing on a busy machine.
			if _, err := js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: payload, Header: h}, stallWait); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
			b.Fatal("acks did not complete")
		}
		report(b)
	})
	b.Run("impl=ours", func(b *testing.B) {
		s := startServer(b)
		d, err := natsbus.New(context.Background(), natsbus.Options{URL: s.ClientURL(), MaxPending: window, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		p := bus.New(d, bus.Options{BatchSize: batchSize, MaxInFlight: window / batchSize, Logger: quiet})
		publishLoop(b, p)
	})
}

func BenchmarkBusCore(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) {
		s := startServer(b)
		nc, err := nats.Connect(s.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		var id []byte
		i := 0
		for b.Loop() {
			id = strconv.AppendInt(id[:0], int64(i), 10)
			i++
			h := nats.Header{natsbus.HeaderMsgID: {string(id)}, natsbus.HeaderTraceParent: {traceparent},
				natsbus.HeaderContentType: {"application/json"}}
			if err := nc.PublishMsg(&nats.Msg{Subject: "core." + subject, Data: payload, Header: h}); err != nil {
				b.Fatal(err)
			}
		}
		if err := nc.FlushTimeout(30 * time.Second); err != nil {
			b.Fatal(err)
		}
		report(b)
	})
	b.Run("impl=ours", func(b *testing.B) {
		s := startServer(b)
		d, err := natsbus.New(context.Background(), natsbus.Options{URL: s.ClientURL(), Mode: natsbus.Core, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		p := bus.New(d, bus.Options{BatchSize: batchSize, MaxInFlight: window / batchSize, Logger: quiet})
		publishLoop(b, p, "core.")
	})
}

// publishLoop publishes b.N messages through p, waits for all of them to
// settle and closes p (which flushes the connection).
func publishLoop(b *testing.B, p *bus.Publisher, prefix ...string) {
	subj := subject
	if len(prefix) > 0 {
		subj = prefix[0] + subject
	}
	ctx := context.Background()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	var id []byte
	i := 0
	for b.Loop() {
		id = strconv.AppendInt(id[:0], int64(i), 10)
		i++
		if err := p.Publish(ctx, bus.Message{Subject: subj, Data: payload, MsgID: string(id),
			TraceParent: traceparent, ContentType: "application/json"}); err != nil {
			b.Fatal(err)
		}
	}
	rep, err := p.Close(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if rep.Stats.Acked != uint64(b.N) {
		b.Fatalf("acked %d of %d", rep.Stats.Acked, b.N)
	}
	report(b)
}
