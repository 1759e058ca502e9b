package twitch

import (
	"context"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/ircv3"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// replayConn is a server that answers registration and then sends the same
// block of PRIVMSG lines over and over, as fast as it is read. Writes are
// discarded. It isolates the client's read path: framing, parsing,
// counting, the Handler call.
type replayConn struct {
	mu     sync.Mutex
	head   []byte // registration replies, sent once
	block  []byte
	off    int
	closed chan struct{}
	once   sync.Once
}

func newReplayConn(lines int) *replayConn {
	rc := &replayConn{closed: make(chan struct{})}
	rc.head = []byte(":tmi.twitch.tv CAP * ACK :twitch.tv/tags\r\n:tmi.twitch.tv CAP * ACK :twitch.tv/commands\r\n" +
		":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!\r\n")
	for i := range lines {
		rc.block = append(rc.block, twitchtest.PrivmsgLine("bench", twitchtest.MessageID(uint64(i+1)), i)...)
		rc.block = append(rc.block, '\r', '\n')
	}
	return rc
}

func (rc *replayConn) Read(p []byte) (int, error) {
	select {
	case <-rc.closed:
		return 0, io.EOF
	default:
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.head) > 0 {
		n := copy(p, rc.head)
		rc.head = rc.head[n:]
		return n, nil
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], rc.block[rc.off:])
		n += c
		rc.off = (rc.off + c) % len(rc.block)
	}
	return n, nil
}

func (rc *replayConn) Write(p []byte) (int, error) {
	select {
	case <-rc.closed:
		return 0, net.ErrClosed
	default:
		return len(p), nil
	}
}

func (rc *replayConn) Close() error {
	rc.once.Do(func() { close(rc.closed) })
	return nil
}

func (rc *replayConn) LocalAddr() net.Addr              { return pipeAddrForBench{} }
func (rc *replayConn) RemoteAddr() net.Addr             { return pipeAddrForBench{} }
func (rc *replayConn) SetDeadline(time.Time) error      { return nil }
func (rc *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (rc *replayConn) SetWriteDeadline(time.Time) error { return nil }

type pipeAddrForBench struct{}

func (pipeAddrForBench) Network() string { return "replay" }
func (pipeAddrForBench) String() string  { return "replay" }

// countingHandler counts lines and signals when it has seen target of them.
type countingHandler struct {
	n      atomic.Int64
	target int64
	done   chan struct{}
}

func (h *countingHandler) HandleLine(ctx context.Context, l *Line) error {
	if h.n.Add(1) == h.target {
		close(h.done)
	}
	return nil
}

// BenchmarkReadPath measures one connection's read path, from the bytes of
// a TCP stream to the Handler: one op is one PRIVMSG line with Twitch's full
// tag set. The lines are pushed by the connection's reader goroutine, so
// the loop waits for b.N of them instead of driving them with b.Loop.
func BenchmarkReadPath(b *testing.B) {
	b.Run("stream", func(b *testing.B) {
		rc := newReplayConn(1000)
		benchManager(b, "tcp://replay:1", func(ctx context.Context, network, addr string) (net.Conn, error) { return rc, nil },
			int64(len(rc.block)/1000))
	})
	b.Run("fakeserver-tcp-loopback", func(b *testing.B) {
		srv := twitchtest.NewServer(twitchtest.Config{})
		defer srv.Close()
		url, err := srv.Listen("tcp")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			for ctx.Err() == nil {
				if len(srv.Clients()) > 0 && len(srv.Clients()[0].Channels()) > 0 {
					srv.Generate(ctx, twitchtest.Gen{Channels: []string{"bench"}})
				}
				time.Sleep(time.Millisecond)
			}
		}()
		benchManager(b, url, nil, int64(len(twitchtest.PrivmsgLine("bench", twitchtest.MessageID(1), 1))))
	})
}

func benchManager(b *testing.B, url string, dial func(context.Context, string, string) (net.Conn, error), lineBytes int64) {
	// Lines before the timer starts (registration, warm-up) are not counted.
	const warm = 1000
	h := &countingHandler{target: warm + int64(b.N), done: make(chan struct{})}
	warmed := make(chan struct{})
	var once sync.Once
	m, err := New(Options{URL: url, Dial: dial, Channels: []string{"bench"}, PingInterval: time.Hour,
		Handler: HandlerFunc(func(ctx context.Context, l *Line) error {
			if h.n.Load() == warm {
				once.Do(func() { close(warmed) })
			}
			return h.HandleLine(ctx, l)
		})})
	if err != nil {
		b.Fatal(err)
	}
	go m.Run(context.Background())
	defer m.Close()
	<-warmed
	b.SetBytes(lineBytes)
	b.ReportAllocs()
	b.ResetTimer()
	<-h.done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// meteredTransport hands out the lines of a transport and counts the heap
// allocations of the process from the start of line warm+1 to the end of
// line warm+n; then it ends the stream. The read loop calls ReadLine in its
// own goroutine, so the count covers everything the loop does with those
// n lines: framing, parsing, classifying, counting, the Handler call.
type meteredTransport struct {
	transport
	warm, n, read int
	mallocs       uint64 // over the n lines; valid once ReadLine returned io.EOF
	before        runtime.MemStats
}

func (t *meteredTransport) ReadLine() ([]byte, error) {
	switch t.read {
	case t.warm:
		// A collection now starts the window on a clean heap with the
		// collector's workers already running.
		runtime.GC()
		runtime.ReadMemStats(&t.before)
	case t.warm + t.n:
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		t.mallocs = after.Mallocs - t.before.Mallocs
		return nil, io.EOF
	}
	t.read++
	return t.transport.ReadLine()
}

// readPathSession returns a session of a new manager on a fresh slot that
// reads from tr, without starting its goroutines: the caller runs readLoop
// itself. The handler counts the lines it is given.
func readPathSession(t *testing.T, tr func(o *Options) transport, lines *int) *session {
	t.Helper()
	m, err := New(Options{URL: "tcp://replay:1", Channels: []string{"bench"}, PingInterval: time.Hour,
		Handler: HandlerFunc(func(ctx context.Context, l *Line) error {
			*lines++
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	sl := m.newSlot()
	m.mu.Unlock()
	s := newSession(m, sl, 1, "justinfan12345", tr(&m.o), time.Now())
	s.wg.Add(1) // readLoop's
	return s
}

// TestReadPathAllocs guards the steady state of the read path: no
// allocation per line. The session's read loop runs in the test goroutine
// over a TCP transport fed with PRIVMSG lines with Twitch's full tag set,
// and no other goroutine of the package runs, so what is counted is the
// read path's work on 20,000 lines. As testing.AllocsPerRun does, the
// count is per unit of work, rounded down: the unit is 1000 lines, so one
// allocation per line (20,000) or per 1000 lines (20) fails the test, while
// an object the runtime allocates for itself now and then does not (an M
// and its stacks when it starts a thread are 7; under load, about once in
// 2000 runs, one object was counted that the same lines did not allocate in
// any other run).
func TestReadPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race allocates")
	}
	// One P, as in testing.AllocsPerRun: restarting the world after the
	// first count then has no idle P to wake, so the runtime starts no
	// thread inside the window.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const warm, n, unit = 2000, 20000, 1000
	rc := newReplayConn(100)
	rc.head = nil // registered already: PRIVMSG lines only
	var mt *meteredTransport
	handled := 0
	s := readPathSession(t, func(o *Options) transport {
		mt = &meteredTransport{transport: &tcpTransport{c: rc, r: ircv3.NewReader(rc, o.MaxLine)}, warm: warm, n: n}
		return mt
	}, &handled)
	s.readLoop(context.Background())
	if mt.read != warm+n || handled != warm+n {
		t.Fatalf("%d lines read, %d handled; want %d", mt.read, handled, warm+n)
	}
	if s.err != io.EOF {
		t.Fatalf("read loop ended with %v, want the end of the stream", s.err)
	}
	if per := mt.mallocs / (n / unit); per != 0 {
		t.Errorf("%d allocations per %d lines (%d in %d), want 0", per, unit, mt.mallocs, n)
	} else if mt.mallocs != 0 {
		t.Logf("%d allocations in %d lines: fewer than one per %d", mt.mallocs, n, unit)
	}
}
