package harness

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// FaultProxy forwards TCP connections from a fixed loopback port to a
// target that can change, and injects the faults of a network or of a
// server that goes away: Down refuses connections (the port is closed and
// every connection through it cut), Up opens it again toward a target, and
// Blackhole holds every connection open while nothing passes in either
// direction (a half-open link: the bytes wait in the kernels' buffers).
type FaultProxy struct {
	t    testing.TB
	port int

	mu     sync.Mutex
	cond   *sync.Cond
	ln     net.Listener
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
	p := &FaultProxy{t: t, port: FreePort(t), conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	if target != "" {
		p.Up(target)
	}
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's host:port, the same whether up or down.
func (p *FaultProxy) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// Up opens the port toward target (host:port), or changes the target of
// new connections when it is already up.
func (p *FaultProxy) Up(target string) {
	p.t.Helper()
	p.mu.Lock()
	p.target = target
	up := p.ln != nil
	p.mu.Unlock()
	if up {
		return
	}
	var ln net.Listener
	var err error
	for range 100 { // the port was ours a moment ago; a closing socket may hold it briefly
		if ln, err = net.Listen("tcp", p.Addr()); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("fault proxy: listen again on %s: %v", p.Addr(), err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		ln.Close()
		return
	}
	p.ln = ln
	p.wg.Add(1)
	p.mu.Unlock()
	go p.accept(ln)
}

// Down closes the port (connections are refused) and cuts every
// connection through the proxy.
func (p *FaultProxy) Down() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
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
	p.Down()
	p.wg.Wait()
}

func (p *FaultProxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		s, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
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
