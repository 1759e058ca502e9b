package twitch

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// TestReadPathAllocs guards the steady state of the read path: no
// allocation per line.
func TestReadPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race allocates")
	}
	rc := newReplayConn(100)
	tick := make(chan struct{})
	var n atomic.Int64
	m, err := New(Options{URL: "tcp://replay:1", Channels: []string{"bench"}, PingInterval: time.Hour,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) { return rc, nil },
		Handler: HandlerFunc(func(ctx context.Context, l *Line) error {
			if n.Add(1)%1000 == 0 {
				select {
				case tick <- struct{}{}:
				case <-ctx.Done():
				}
			}
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	go m.Run(context.Background())
	defer m.Close()
	for range 5 { // registration and the JOIN are behind us
		<-tick
	}
	// Each run reads 1000 lines.
	if a := testing.AllocsPerRun(20, func() { <-tick }); a != 0 {
		t.Errorf("%v allocations per 1000 lines, want 0", a)
	}
}
