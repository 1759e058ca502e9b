package harness

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer answers every line with the same line, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(l)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip connects through addr and sends one line; it reports whether
// the line came back.
func roundTrip(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && l == "ping\n"
}

// Down refuses and cuts, Up forwards again, on the same address every
// time: the port is never given up, so nothing else can take it.
func TestFaultProxyDownUp(t *testing.T) {
	target := echoServer(t)
	p := StartFaultProxy(t, target)
	addr := p.Addr()
	held, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if !roundTrip(t, addr) {
		t.Fatal("no round trip through the proxy while up")
	}
	for i := range 20 {
		p.Down()
		if p.Addr() != addr {
			t.Fatalf("cycle %d: address %s, want %s", i, p.Addr(), addr)
		}
		if roundTrip(t, addr) {
			t.Fatalf("cycle %d: a round trip through the proxy while down", i)
		}
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			t.Fatalf("cycle %d: the port was given up while down: another socket could take it", i)
		}
		p.Up(target)
		if !roundTrip(t, addr) {
			t.Fatalf("cycle %d: no round trip after Up", i)
		}
	}
	// The connection made before the first Down was cut.
	held.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection from before Down still reads")
	}
	for deadline := time.Now().Add(10 * time.Second); p.Conns() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections through the proxy 10 s after every client closed", p.Conns())
		}
	}
}

// A proxy started without a target is down until Up.
func TestFaultProxyStartsDown(t *testing.T) {
	target := echoServer(t)
	p := StartFaultProxy(t, "")
	if roundTrip(t, p.Addr()) {
		t.Fatal("a round trip through a proxy started down")
	}
	p.Up(target)
	if !roundTrip(t, p.Addr()) {
		t.Fatal("no round trip after Up")
	}
}
