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
//   - BenchmarkBusOutbox/impl=direct: bus.Publisher over natsbus (JetStream);
//     impl=outbox: the same through the durable outbox (stored on disk,
//     read back, forwarded, counted at the remote's ack); impl=outbox-fsync:
//     the outbox fsyncing every write (OUTBOX_SYNC=always). Target: outbox
//     ≥ 70 % of direct; outbox-fsync is the price of fsync, for the README.
//   - BenchmarkBusOutboxLatency: 10,000 messages/s, p99 receive → remote
//     ack (bucket bound), direct, outbox and outbox-fsync. Target: outbox
//     < 25 ms.
//
// Run bus.sh for the -count 10 benchstat table.
package bench

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
	"github.com/ingress-egress/ingress-egress/bus/outbox"
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

// BenchmarkBusOutbox compares publishing to JetStream directly
// (impl=direct: bus.Publisher over natsbus, as BenchmarkBusJetStream/ours)
// with publishing through the durable outbox (impl=outbox: bus.Publisher
// over outbox.Outbox, whose forwarder sends to the same natsbus driver and
// server), and with the outbox fsyncing every write (impl=outbox-fsync,
// OUTBOX_SYNC=always). One op is one message, counted when the remote
// stream acknowledged it: for the outbox, after it was stored on disk,
// read back and forwarded. Target: outbox ≥ 70 % of direct.
func BenchmarkBusOutbox(b *testing.B) {
	for _, impl := range []string{"direct", "outbox", "outbox-fsync"} {
		b.Run("impl="+impl, func(b *testing.B) {
			p, ob := outboxPair(b, impl != "direct", impl == "outbox-fsync")
			ctx := context.Background()
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			// A plain loop, not b.Loop: the timer must run until the
			// remote acknowledged the last message, after the loop.
			for i := range b.N {
				if err := p.Publish(ctx, bus.Message{Subject: subject, Data: payload, MsgID: strconv.Itoa(i),
					TraceParent: traceparent, ContentType: "application/json"}); err != nil {
					b.Fatal(err)
				}
			}
			wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			if err := p.Flush(wctx); err != nil {
				b.Fatal(err)
			}
			if ob != nil {
				if err := ob.Drain(wctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			report(b)
			rep, err := p.Close(wctx)
			if err != nil {
				b.Fatal(err)
			}
			if rep.Stats.Acked != uint64(b.N) || (ob != nil && ob.Stats().Forwarded != uint64(b.N)) {
				b.Fatalf("acked %d of %d", rep.Stats.Acked, b.N)
			}
		})
	}
}

// BenchmarkBusOutboxLatency publishes at a steady 10,000 messages/s and
// reports the 99th percentile of receive → acknowledgement by the remote
// stream, as the upper bound of its bus.AckLatencyBuckets bucket (p99-ms),
// and the mean: impl=direct from the publisher's histogram, impl=outbox and
// impl=outbox-fsync from the outbox's (forwarded). Target: outbox p99 <
// 25 ms. Run it with a -benchtime of at least 20000x (2 s).
func BenchmarkBusOutboxLatency(b *testing.B) {
	for _, impl := range []string{"direct", "outbox", "outbox-fsync"} {
		b.Run("impl="+impl, func(b *testing.B) {
			p, ob := outboxPair(b, impl != "direct", impl == "outbox-fsync")
			ctx := context.Background()
			const rate = 10000
			start := time.Now()
			i := 0
			for b.Loop() {
				if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
					time.Sleep(d)
				}
				id := strconv.Itoa(i)
				i++
				if err := p.Publish(ctx, bus.Message{Subject: subject, Data: payload, MsgID: id,
					TraceParent: traceparent, ContentType: "application/json", Received: time.Now()}); err != nil {
					b.Fatal(err)
				}
			}
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := p.Flush(cctx); err != nil {
				b.Fatal(err)
			}
			h := p.Stats().AckLatency
			if ob != nil {
				if err := ob.Drain(cctx); err != nil {
					b.Fatal(err)
				}
				h = ob.Stats().ForwardLatency
			}
			b.ReportMetric(quantileMs(h, 0.99), "p99-ms")
			b.ReportMetric(1000*h.Sum/float64(max(h.Count, 1)), "mean-ms")
			if _, err := p.Close(cctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// quantileMs is the upper bound, in milliseconds, of the bucket holding
// the q-quantile of h.
func quantileMs(h bus.Histogram, q float64) float64 {
	want := uint64(q * float64(h.Count))
	var n uint64
	for i, c := range h.Counts {
		n += c
		if n >= want {
			return 1000 * bus.AckLatencyBuckets[i]
		}
	}
	return math.Inf(1)
}

// outboxPair starts a JetStream server with the stream and a publisher in
// front of it, through an outbox (in b.TempDir) when withOutbox, which
// fsyncs every write when fsync is given and true.
func outboxPair(b *testing.B, withOutbox bool, fsync ...bool) (*bus.Publisher, *outbox.Outbox) {
	s := startServer(b)
	o := natsbus.Options{URL: s.ClientURL(), MaxPending: window, Logger: quiet}
	if withOutbox {
		o.ReconnectBufSize = -1 // as the service sets it in front of an outbox
	}
	d, err := natsbus.New(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	popts := bus.Options{BatchSize: batchSize, MaxInFlight: window / batchSize, Logger: quiet}
	if !withOutbox {
		return bus.New(d, popts), nil
	}
	ob, err := outbox.Open(context.Background(), outbox.Options{Dir: b.TempDir(), Remote: d, Logger: quiet,
		BatchSize: batchSize, MaxInFlight: window / batchSize, SyncAlways: len(fsync) > 0 && fsync[0]})
	if err != nil {
		b.Fatal(err)
	}
	return bus.New(ob, popts), ob
}
