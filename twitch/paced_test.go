package twitch

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// chunkConn is a net.Conn whose Read returns what was queued (up to
// len(p)) and blocks while nothing is; it records when each read returned.
type chunkConn struct {
	net.Conn // nil: only Read is used
	mu       sync.Mutex
	buf      []byte
	more     chan struct{}
	reads    []time.Duration // since start
	start    time.Time
}

func newChunkConn() *chunkConn {
	return &chunkConn{more: make(chan struct{}, 1), start: time.Now()}
}

func (c *chunkConn) put(n int) {
	c.mu.Lock()
	c.buf = append(c.buf, make([]byte, n)...)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *chunkConn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		if len(c.buf) > 0 {
			n := copy(p, c.buf)
			c.buf = c.buf[n:]
			c.reads = append(c.reads, time.Since(c.start))
			c.mu.Unlock()
			return n, nil
		}
		c.mu.Unlock()
		<-c.more
	}
}

// readN reads from r with a buffer of size until it has n bytes.
func readN(t *testing.T, r net.Conn, size, n int) {
	t.Helper()
	buf := make([]byte, size)
	for got := 0; got < n; {
		m, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += m
	}
}

// At a moderate rate (10 bytes every millisecond) a paced connection is
// read once per window, at the window's boundaries, instead of once per
// arrival.
func TestPacedConnReadsOncePerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChunkConn()
		p := &pacedConn{Conn: c, window: 5 * time.Millisecond}
		p.on.Store(true)
		go func() {
			for range 20 { // at 0.5 ms, 1.5 ms, … 19.5 ms
				time.Sleep(500 * time.Microsecond)
				c.put(10)
				time.Sleep(500 * time.Microsecond)
			}
		}()
		readN(t, p, 4096, 200)
		want := []time.Duration{500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond, 15 * time.Millisecond, 20 * time.Millisecond}
		if !slices.Equal(c.reads, want) {
			t.Fatalf("reads at %v, want %v", c.reads, want)
		}
	})
}

// A read that filled its buffer is followed at once by the next: the
// kernel holds more, and a busy connection is never held back. Pacing
// starts again after a short read.
func TestPacedConnFullReadsNotHeldBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChunkConn()
		p := &pacedConn{Conn: c, window: 5 * time.Millisecond}
		p.on.Store(true)
		c.put(100)
		go func() {
			time.Sleep(time.Millisecond)
			c.put(5) // read at once: the read before filled its buffer
			time.Sleep(time.Millisecond)
			c.put(5) // held back to 5 ms: the read before was short
		}()
		readN(t, p, 10, 110)
		want := make([]time.Duration, 10, 12)
		want = append(want, time.Millisecond, 5*time.Millisecond)
		if !slices.Equal(c.reads, want) {
			t.Fatalf("reads at %v, want %v", c.reads, want)
		}
	})
}

// Until it is switched on (after the handshakes) a paced connection reads
// every arrival at once, as without pacing.
func TestPacedConnOffReadsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChunkConn()
		p := &pacedConn{Conn: c, window: 5 * time.Millisecond}
		go func() {
			for range 3 {
				time.Sleep(time.Millisecond)
				c.put(10)
			}
		}()
		readN(t, p, 4096, 30)
		want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}
		if !slices.Equal(c.reads, want) {
			t.Fatalf("reads at %v, want %v", c.reads, want)
		}
	})
}

// dialTransport paces the connection when ReadCoalesce is set, and only
// once the connection is established; without it the connection is the
// dialer's own.
func TestDialTransportPaces(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ep, err := parseEndpoint("tcp://" + l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, window := range []time.Duration{0, 5 * time.Millisecond} {
		o := Options{ReadCoalesce: window}
		tr, err := dialTransport(context.Background(), ep, &o)
		if err != nil {
			t.Fatal(err)
		}
		pc, paced := tr.(*tcpTransport).c.(*pacedConn)
		if paced != (window > 0) {
			t.Errorf("ReadCoalesce %v: connection paced %v", window, paced)
		}
		if paced && (pc.window != window || !pc.on.Load()) {
			t.Errorf("ReadCoalesce %v: window %v, on %v after the dial", window, pc.window, pc.on.Load())
		}
		tr.Close()
	}
}
