package harness

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// SlowProxy forwards TCP connections to a target, passing the client's
// bytes on at most a given rate (the server's answers go back at full
// speed): a slow bus. With buffered, the proxy reads everything the client
// sends at once and holds it (a bus slow to store and acknowledge: the
// client's writes never block); without, the client's writes wait for the
// link (a slow network: they block in the kernel).
type SlowProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// StartSlowProxy listens on a free loopback port and forwards to target
// (host:port) at bytesPerSec; the test's cleanup closes it.
func StartSlowProxy(t testing.TB, target string, bytesPerSec int, buffered bool) *SlowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &SlowProxy{ln: ln, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
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
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
			go func() {
				defer p.wg.Done()
				src := io.Reader(c)
				if buffered {
					src = p.buffer(c)
				}
				throttledCopy(s, src, bytesPerSec)
				s.Close()
			}()
		}
	}()
	t.Cleanup(p.Close)
	return p
}

// buffer reads c as fast as it sends into memory and returns a reader of
// what it read.
func (p *SlowProxy) buffer(c net.Conn) io.Reader {
	pr, pw := io.Pipe()
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var queue [][]byte
	eof := false
	p.wg.Add(2)
	go func() { // c → queue
		defer p.wg.Done()
		for {
			b := make([]byte, 32<<10)
			n, err := c.Read(b)
			mu.Lock()
			if n > 0 {
				queue = append(queue, b[:n])
			}
			if err != nil {
				eof = true
			}
			cond.Signal()
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { // queue → pipe
		defer p.wg.Done()
		for {
			mu.Lock()
			for len(queue) == 0 && !eof {
				cond.Wait()
			}
			if len(queue) == 0 {
				mu.Unlock()
				pw.Close()
				return
			}
			b := queue[0]
			queue = queue[1:]
			mu.Unlock()
			if _, err := pw.Write(b); err != nil {
				return
			}
		}
	}()
	go func() { <-p.stop; pr.CloseWithError(io.ErrClosedPipe); pw.CloseWithError(io.ErrClosedPipe) }()
	return pr
}

// Addr returns the proxy's host:port.
func (p *SlowProxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy and every connection through it at once: what it
// has not forwarded yet is lost. It is safe to call more than once.
func (p *SlowProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// throttledCopy copies src to dst at most bytesPerSec, until either fails.
func throttledCopy(dst io.Writer, src io.Reader, bytesPerSec int) {
	buf := make([]byte, 4096)
	start := time.Now()
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			total += int64(n)
			due := start.Add(time.Duration(total * int64(time.Second) / int64(bytesPerSec)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		if err != nil {
			return
		}
	}
}
