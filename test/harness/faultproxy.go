package harness

import (
	"net"
	"sync"
	"testing"
	"time"
)

// FaultProxy forwards TCP connections from a fixed loopback port to a
// target that can change, and injects the faults of a network or of a
// server that goes away: Down refuses connections (each one is reset as
// soon as it arrives) and cuts every connection through it, Up forwards
// again toward a target, and Blackhole holds every connection open while
// nothing passes in either direction (a half-open link: the bytes wait in
// the kernels' buffers). The port stays bound for the proxy's life, down
// or up: a port closed and bound again can meanwhile be taken by another
// socket as its local port, and Up would then fail.
type FaultProxy struct {
	t  testing.TB
	ln net.Listener

	mu     sync.Mutex
	cond   *sync.Cond
	down   bool
	target string
	black  bool
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// StartFaultProxy listens on a free loopback port and forwards to target
// (host:port); with target "", it starts down. The test's cleanup closes
// it.
func StartFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault proxy: listen: %v", err)
	}
	p := &FaultProxy{t: t, ln: ln, down: target == "", target: target, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's host:port, the same whether up or down.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// Up forwards new connections to target (host:port), or changes the
// target of new connections when it is already up.
func (p *FaultProxy) Up(target string) {
	p.mu.Lock()
	p.target = target
	p.down = false
	p.mu.Unlock()
}

// Down refuses new connections (each is reset as soon as it arrives) and
// cuts every connection through the proxy.
func (p *FaultProxy) Down() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.CutAll()
}

// CutAll closes every connection through the proxy, both sides.
func (p *FaultProxy) CutAll() {
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Blackhole stops (on) or resumes every transfer in both directions,
// for the connections open now and those made meanwhile.
func (p *FaultProxy) Blackhole(on bool) {
	p.mu.Lock()
	p.black = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Conns returns how many connections go through the proxy now.
func (p *FaultProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Close stops the proxy and every connection through it.
func (p *FaultProxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.black = false
	p.cond.Broadcast()
	p.mu.Unlock()
	p.ln.Close()
	p.CutAll()
	p.wg.Wait()
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target, down := p.target, p.down
		p.mu.Unlock()
		if down {
			refuse(c)
			continue
		}
		s, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			refuse(c)
			continue
		}
		p.mu.Lock()
		if p.closed || p.down {
			p.mu.Unlock()
			refuse(c)
			s.Close()
			continue
		}
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

// refuse resets c: the client's next read or write fails at once, as
// against a closed port.
func refuse(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// pipe copies src to dst while not blackholed, until either fails; then it
// closes both.
func (p *FaultProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, src)
		delete(p.conns, dst)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		if !p.pass(src) {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass(src) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pass waits while the proxy is a black hole; false when the proxy or the
// connection was closed meanwhile.
func (p *FaultProxy) pass(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.black && !p.closed {
		if _, ok := p.conns[c]; !ok {
			return false
		}
		p.cond.Wait()
	}
	_, ok := p.conns[c]
	return ok && !p.closed
}
