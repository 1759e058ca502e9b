package natsbus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
)

const (
	ingress  = "test.internal.ingress.v1"
	finalize = "test.internal.finalize.v1"
)

var quiet = slog.New(slog.DiscardHandler)

// startServer runs an in-process nats-server with JetStream on 127.0.0.1.
// port -1 picks a free one.
func startServer(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func stop(s *server.Server) { s.Shutdown(); s.WaitForShutdown() }

func streamOpts() *natsbus.StreamOptions {
	return &natsbus.StreamOptions{Name: "INGRESS", Subjects: []string{ingress, finalize}}
}

func newDriver(t *testing.T, o natsbus.Options) *natsbus.Driver {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := natsbus.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if o.Stream != nil {
		// The stream is ensured in the background: the tests start from a
		// stream that exists, as before a bus outage.
		for !d.Ready() {
			if ctx.Err() != nil {
				t.Fatal("the stream was not created within 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return d
}

func envelope(i int) []byte {
	return fmt.Appendf(nil, `{"v":"1","id":"%d","source":{"channel":"ch%d"},"payload":{"text":"%s"}}`, i, i%3, strings.Repeat("x", 900))
}

func message(i int) bus.Message {
	return bus.Message{Subject: ingress, Data: envelope(i), MsgID: fmt.Sprintf("msg-%d", i),
		TraceParent: fmt.Sprintf("00-%032x-%016x-01", i+1, i+1), ContentType: "application/json"}
}

// readStream reads every message of the stream, in stream order.
func readStream(t *testing.T, url string) []*jetstream.RawStreamMsg {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "INGRESS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("GetMsg(%d): %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// checkExactlyOnce asserts the stream holds msg-0..msg-(n-1) once each, and
// per channel in publish order.
func checkExactlyOnce(t *testing.T, msgs []*jetstream.RawStreamMsg, n int, strictOrder bool) {
	t.Helper()
	seen := make(map[string]int)
	lastPerChannel := map[int]int{}
	for _, m := range msgs {
		if m.Subject != ingress {
			t.Errorf("unexpected subject %s: %s", m.Subject, m.Data)
			continue
		}
		id := m.Header.Get(natsbus.HeaderMsgID)
		seen[id]++
		var i int
		fmt.Sscanf(id, "msg-%d", &i)
		if string(m.Data) != string(envelope(i)) {
			t.Fatalf("%s data = %.40q…, want envelope %d", id, m.Data, i)
		}
		if strictOrder {
			if last, ok := lastPerChannel[i%3]; ok && i < last {
				t.Errorf("channel %d: msg %d after %d", i%3, i, last)
			}
			lastPerChannel[i%3] = i
		}
	}
	if len(seen) != n {
		t.Errorf("stream holds %d distinct ids, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s stored %d times", id, c)
		}
	}
	if len(msgs) != n {
		t.Errorf("stream holds %d messages, want %d (0 lost, 0 duplicates)", len(msgs), n)
	}
}

func TestJetStreamReadBack(t *testing.T) {
	s := startServer(t, -1, t.TempDir())
	d := newDriver(t, natsbus.Options{URL: s.ClientURL(), Stream: streamOpts()})
	p := bus.New(d, bus.Options{Logger: quiet})
	const n = 2000
	// The driver reuses each batch position's header map batch after
	// batch: some messages leave the traceparent out, and none may carry
	// another's.
	msg := func(i int) bus.Message {
		m := message(i)
		if i%7 == 3 {
			m.TraceParent = ""
		}
		return m
	}
	for i := range n {
		if err := p.Publish(context.Background(), msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The same id again (a republish) is deduplicated by the stream.
	if err := p.Publish(context.Background(), msg(7)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stats.Acked != n+1 || rep.Stats.Lost != 0 || rep.Stats.FailureEvents != 0 {
		t.Errorf("stats = %+v", rep.Stats)
	}
	msgs := readStream(t, s.ClientURL())
	checkExactlyOnce(t, msgs, n, true)
	for _, m := range msgs {
		var i int
		fmt.Sscanf(m.Header.Get(natsbus.HeaderMsgID), "msg-%d", &i)
		want := msg(i)
		if m.Header.Get(natsbus.HeaderTraceParent) != want.TraceParent || len(m.Header[natsbus.HeaderMsgID]) != 1 ||
			(want.TraceParent == "" && m.Header[natsbus.HeaderTraceParent] != nil) ||
			m.Header.Get(natsbus.HeaderContentType) != "application/json" {
			t.Fatalf("msg %d headers = %v, want traceparent %q", i, m.Header, want.TraceParent)
		}
	}
}

func TestCoreReadBack(t *testing.T) {
	s := startServer(t, -1, t.TempDir())
	sub, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch := make(chan *nats.Msg, 1000)
	sb, err := sub.ChanSubscribe(ingress, ch)
	if err != nil {
		t.Fatal(err)
	}
	sb.SetPendingLimits(-1, -1)
	sub.Flush()
	d := newDriver(t, natsbus.Options{URL: s.ClientURL(), Mode: natsbus.Core})
	p := bus.New(d, bus.Options{Logger: quiet})
	const n = 500
	// Core mode reuses one header map: some messages leave a header out,
	// and none may carry another's. Core NATS deduplicates nothing: no
	// message carries Nats-Msg-Id, whether it has an id or not.
	msg := func(i int) bus.Message {
		m := message(i)
		if i%7 == 3 {
			m.TraceParent = ""
		}
		if i%11 == 5 {
			m.MsgID = ""
		}
		return m
	}
	for i := range n {
		if err := p.Publish(context.Background(), msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		select {
		case m := <-ch:
			want := msg(i)
			if string(m.Data) != string(envelope(i)) || m.Header[natsbus.HeaderMsgID] != nil ||
				m.Header.Get(natsbus.HeaderTraceParent) != want.TraceParent ||
				(want.TraceParent == "" && m.Header[natsbus.HeaderTraceParent] != nil) ||
				m.Header.Get(natsbus.HeaderContentType) != "application/json" {
				t.Fatalf("message %d = %.40q headers %v, want no Nats-Msg-Id, traceparent %q", i, m.Data, m.Header, want.TraceParent)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("received %d of %d", i, n)
		}
	}
}

// publishAll publishes msg-0..msg-(n-1) from a goroutine; after `after`
// messages it calls mid once.
func publishAll(t *testing.T, p *bus.Publisher, n, after int, mid func()) {
	t.Helper()
	for i := range n {
		if i == after {
			mid()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := p.Publish(ctx, message(i))
		cancel()
		if err != nil {
			t.Fatalf("Publish(%d) = %v", i, err)
		}
	}
}

// TestRestartMidStream shuts the server down while publishing and starts it
// again on the same port and store: nothing lost, nothing stored twice.
func TestRestartMidStream(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, -1, dir)
	port := s.Addr().(*net.TCPAddr).Port
	url := s.ClientURL()
	d := newDriver(t, natsbus.Options{URL: url, Stream: streamOpts(), AckTimeout: 3 * time.Second,
		ReconnectWait: 20 * time.Millisecond, ReconnectJitter: time.Millisecond})
	p := bus.New(d, bus.Options{Logger: quiet, MaxBackoff: 200 * time.Millisecond})
	const n = 3000
	publishAll(t, p, n, 1000, func() {
		stop(s)
		go func() {
			time.Sleep(300 * time.Millisecond)
			startServer(t, port, dir)
		}()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Stats
	t.Logf("stats: acked %d retries %d unavailable %d blocked %d wait %v", st.Acked, st.Retries, st.Unavailable, st.Blocked, st.BackpressureWait)
	if st.Lost != 0 || st.FailureEvents != 0 || st.Acked != n {
		t.Errorf("acked %d events %d lost %d, want %d 0 0", st.Acked, st.FailureEvents, st.Lost, n)
	}
	if st.Unavailable+st.Retries == 0 {
		t.Error("no re-send was needed: the restart did not happen mid-stream")
	}
	checkExactlyOnce(t, readStream(t, url), n, false)
}

// TestOutageLongerThanReconnectBudget keeps the server down for several times
// nats.go's default budget (60 attempts) at this reconnect wait: the publisher
// keeps its messages, blocks its caller once full, and delivers on return.
func TestOutageLongerThanReconnectBudget(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, -1, dir)
	port := s.Addr().(*net.TCPAddr).Port
	url := s.ClientURL()
	var reconnects atomic.Int64
	d := newDriver(t, natsbus.Options{URL: url, Stream: streamOpts(), AckTimeout: 300 * time.Millisecond,
		ReconnectWait: 5 * time.Millisecond, ReconnectJitter: time.Millisecond})
	d.Conn().SetReconnectHandler(func(*nats.Conn) { reconnects.Add(1) })
	p := bus.New(d, bus.Options{Logger: quiet, MaxQueue: 64, BatchSize: 16, MaxInFlight: 2, MaxBackoff: 100 * time.Millisecond})
	const n = 300
	var outage sync.WaitGroup
	outage.Add(1)
	var blockedDuringOutage, acceptedDuringOutage uint64
	publishAll(t, p, n, 100, func() {
		stop(s)
		go func() {
			defer outage.Done()
			time.Sleep(1500 * time.Millisecond) // 60 attempts take ~0.4 s here
			st := p.Stats()
			blockedDuringOutage, acceptedDuringOutage = st.Blocked, st.Accepted
			if d.Ready() || p.Ready() {
				t.Error("Ready() during the outage")
			}
			startServer(t, port, dir)
		}()
	})
	outage.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Stats
	if blockedDuringOutage == 0 || acceptedDuringOutage > 100+64 {
		t.Errorf("during the outage: blocked %d accepted %d, want >0 and ≤ 164 (bounded queue)", blockedDuringOutage, acceptedDuringOutage)
	}
	if st.Lost != 0 || st.FailureEvents != 0 || st.Acked != n {
		t.Errorf("acked %d events %d lost %d, want %d 0 0", st.Acked, st.FailureEvents, st.Lost, n)
	}
	if reconnects.Load() == 0 {
		t.Error("never reconnected")
	}
	checkExactlyOnce(t, readStream(t, url), n, false)
}

// pauseProxy forwards one TCP connection and can hold back what the server
// sends (acks arrive late, nothing is dropped or cut).
type pauseProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	paused bool
	cond   *sync.Cond
	conns  []net.Conn
}

func newPauseProxy(t *testing.T, target string) *pauseProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pp := &pauseProxy{ln: ln}
	pp.cond = sync.NewCond(&pp.mu)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			pp.mu.Lock()
			pp.conns = append(pp.conns, c, u)
			pp.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := u.Read(buf)
					pp.mu.Lock()
					for pp.paused {
						pp.cond.Wait()
					}
					pp.mu.Unlock()
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		pp.set(false)
		pp.mu.Lock()
		for _, c := range pp.conns {
			c.Close()
		}
		pp.mu.Unlock()
	})
	return pp
}

func (pp *pauseProxy) set(paused bool) {
	pp.mu.Lock()
	pp.paused = paused
	pp.cond.Broadcast()
	pp.mu.Unlock()
}

// TestSlowAckRepublishDeduplicated holds the acks back past the ack timeout:
// the publisher republishes with the same Nats-Msg-Id and the stream keeps
// one copy.
func TestSlowAckRepublishDeduplicated(t *testing.T) {
	s := startServer(t, -1, t.TempDir())
	pp := newPauseProxy(t, s.Addr().String())
	d := newDriver(t, natsbus.Options{URL: "nats://" + pp.ln.Addr().String(), Stream: streamOpts(), AckTimeout: 200 * time.Millisecond})
	p := bus.New(d, bus.Options{Logger: quiet, RetryBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	const n = 50
	pp.set(true)
	for i := range n {
		if err := p.Publish(context.Background(), message(i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // past the ack timeout: the server has the messages, we have no acks
	pp.set(false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Stats
	if st.Retries == 0 {
		t.Errorf("no republish after the ack timeout: %+v", st)
	}
	if st.Lost != 0 || st.FailureEvents != 0 || st.Acked != n {
		t.Errorf("acked %d events %d lost %d, want %d 0 0", st.Acked, st.FailureEvents, st.Lost, n)
	}
	checkExactlyOnce(t, readStream(t, s.ClientURL()), n, false)
}

func TestPermanentErrorBecomesFailureEvent(t *testing.T) {
	s := startServer(t, -1, t.TempDir())
	d := newDriver(t, natsbus.Options{URL: s.ClientURL(), Stream: streamOpts()})
	big := message(1)
	big.Data = make([]byte, 2<<20) // over the server's max_payload (1 MiB)
	p2 := bus.New(d, bus.Options{Logger: quiet, Prefix: "test.", MaxMessageBytes: 4 << 20, MaxQueueBytes: 8 << 20})
	if err := p2.Publish(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	if err := p2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p2.Stats()
	if st.Permanent != 1 || st.Retries != 0 {
		t.Errorf("permanent %d retries %d, want 1 0", st.Permanent, st.Retries)
	}
	// The event embeds a truncated copy (64 KiB) and fits.
	if st.FailureEvents != 1 || st.Lost != 0 {
		t.Errorf("events %d lost %d, want 1 0", st.FailureEvents, st.Lost)
	}
	msgs := readStream(t, s.ClientURL())
	if len(msgs) != 1 || msgs[0].Subject != finalize || !strings.Contains(string(msgs[0].Data), `"class":"permanent"`) {
		t.Errorf("stream = %d msgs, first %v", len(msgs), msgs)
	}
	p2.Close(context.Background())
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:secret@h:4222,nats://h2:4222", "nats://REDACTED@h:4222,nats://h2:4222"},
		{"nats://tok3n@h:4222", "nats://REDACTED@h:4222"},
	} {
		if got := natsbus.RedactURL(tc.in); got != tc.want || strings.Contains(got, "secret") {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStreamEnsuredInTheBackground: with a stream to ensure and the server
// down, New returns at once (the service's HTTP server, and its liveness
// endpoint, start after it); the driver is not ready and holds what it is
// given until the server comes and the stream exists.
func TestStreamEnsuredInTheBackground(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	type result struct {
		d   *natsbus.Driver
		err error
	}
	got := make(chan result, 1)
	go func() {
		d, err := natsbus.New(context.Background(), natsbus.Options{URL: url, Stream: streamOpts(), Logger: quiet,
			ReconnectWait: 20 * time.Millisecond, ReconnectJitter: time.Millisecond})
		got <- result{d, err}
	}()
	var d *natsbus.Driver
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatal(r.err)
		}
		d = r.d
	case <-time.After(30 * time.Second): // a hang guard, not a timing threshold
		t.Fatal("New waits for a bus that is down")
	}
	if d.Ready() {
		t.Error("Ready with the bus down and no stream")
	}
	p := bus.New(d, bus.Options{Logger: quiet, MaxBackoff: 100 * time.Millisecond})
	const n = 100
	for i := range n {
		if err := p.Publish(context.Background(), message(i)); err != nil {
			t.Fatal(err)
		}
	}
	startServer(t, port, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := rep.Stats; st.Acked != n || st.Lost != 0 || st.FailureEvents != 0 {
		t.Errorf("acked %d lost %d failure events %d, want %d 0 0", st.Acked, st.Lost, st.FailureEvents, n)
	}
	checkExactlyOnce(t, readStream(t, url), n, false)
}

// TestFrozenAtShutdownIsUnknown: the server stores what we write but its
// acks do not come back (a frozen or partitioned server) when Close gives
// up. Those messages were sent without an answer: they are reported as
// unknown, not lost — and the stream does hold them.
func TestFrozenAtShutdownIsUnknown(t *testing.T) {
	s := startServer(t, -1, t.TempDir())
	pp := newPauseProxy(t, s.Addr().String())
	d := newDriver(t, natsbus.Options{URL: "nats://" + pp.ln.Addr().String(), Stream: streamOpts(), AckTimeout: time.Minute})
	p := bus.New(d, bus.Options{Logger: quiet})
	const n = 50
	pp.set(true)
	for i := range n {
		if err := p.Publish(context.Background(), message(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Wait (bounded) until the server has stored all of them.
	for try := 0; len(readStream(t, s.ClientURL())) < n; try++ {
		if try == 300 {
			t.Fatalf("the stream holds %d of %d after 30 s", len(readStream(t, s.ClientURL())), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rep, _ := p.Close(ctx)
	st := rep.Stats
	if st.Unknown != n || st.Lost != 0 || st.Acked != 0 {
		t.Errorf("unknown %d lost %d acked %d, want %d 0 0", st.Unknown, st.Lost, st.Acked, n)
	}
	unknown := 0
	for _, u := range rep.Undelivered {
		if u.Unknown && strings.HasPrefix(u.MsgID, "msg-") {
			unknown++
		}
	}
	if unknown != n {
		t.Errorf("%d of %d reported unknown with their ids", unknown, n)
	}
	checkExactlyOnce(t, readStream(t, s.ClientURL()), n, false)
}

// TestBusDownAtStart: a driver without a stream to ensure, started while
// the server is down. Until the first connection the client refuses
// headers (it does not know the server yet); that is the bus being down, so
// the messages wait for it instead of becoming failure events.
func TestBusDownAtStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	d := newDriver(t, natsbus.Options{URL: url, ReconnectWait: 20 * time.Millisecond, ReconnectJitter: time.Millisecond})
	p := bus.New(d, bus.Options{Logger: quiet, MaxBackoff: 100 * time.Millisecond})
	const n = 100
	for i := range n {
		if err := p.Publish(context.Background(), message(i)); err != nil {
			t.Fatal(err)
		}
	}
	startServer(t, port, t.TempDir())
	newDriver(t, natsbus.Options{URL: url, Stream: streamOpts()}).Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := rep.Stats; st.Acked != n || st.Lost != 0 || st.FailureEvents != 0 || st.Permanent != 0 {
		t.Errorf("acked %d lost %d failure events %d permanent %d, want %d 0 0 0", st.Acked, st.Lost, st.FailureEvents, st.Permanent, n)
	}
	checkExactlyOnce(t, readStream(t, url), n, false)
}
