package twitch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		url, kind, addr, public string
		tls                     bool
	}{
		{"", "ws", "irc-ws.chat.twitch.tv:443", "wss://irc-ws.chat.twitch.tv:443", true},
		{"wss://irc-ws.chat.twitch.tv", "ws", "irc-ws.chat.twitch.tv:443", "wss://irc-ws.chat.twitch.tv:443", true},
		{"ws://127.0.0.1:8080/x", "ws", "127.0.0.1:8080", "ws://127.0.0.1:8080/x", false},
		{"tls://irc.chat.twitch.tv:6697", "tcp", "irc.chat.twitch.tv:6697", "tls://irc.chat.twitch.tv:6697", true},
		{"ircs://irc.chat.twitch.tv", "tcp", "irc.chat.twitch.tv:6697", "ircs://irc.chat.twitch.tv:6697", true},
		{"irc://user:secret@127.0.0.1", "tcp", "127.0.0.1:6667", "irc://127.0.0.1:6667", false},
		{"tcp://[::1]:7000", "tcp", "[::1]:7000", "tcp://[::1]:7000", false},
	} {
		o := Options{URL: tc.url}
		o.setDefaults()
		ep, err := parseEndpoint(o.URL)
		if err != nil || ep.kind != tc.kind || ep.addr != tc.addr || ep.tls != tc.tls || ep.public != tc.public {
			t.Errorf("parseEndpoint(%q) = %+v, %v; want %s %s tls=%v %s", tc.url, ep, err, tc.kind, tc.addr, tc.tls, tc.public)
		}
	}
	for _, bad := range []string{"http://x", "wss://", "::", "udp://1.2.3.4:5"} {
		if _, err := parseEndpoint(bad); err == nil {
			t.Errorf("parseEndpoint(%q) succeeded", bad)
		}
	}
}

// TestFraming delivers lines packed several to a WebSocket message and
// split at every byte over TCP.
func TestFraming(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto string
		cfg   twitchtest.Config
	}{
		{"ws 50 lines per message", "ws", twitchtest.Config{LinesPerFrame: 50}},
		{"wss 7 lines per message", "wss", twitchtest.Config{LinesPerFrame: 7}},
		{"tcp byte by byte", "tcp", twitchtest.Config{SplitWrites: 1}},
		{"tls split at random points", "tls", twitchtest.Config{SplitWrites: 100}},
	} {
		// Each transport as it comes, and paced (under TLS and WebSocket).
		// Not byte by byte: over the unbuffered pipe every read is short
		// and a paced reader gets one byte per window, where a socket's
		// kernel buffer would have held the window's bytes for one read.
		for _, pace := range []time.Duration{0, 5 * time.Millisecond} {
			if pace > 0 && tc.cfg.SplitWrites == 1 {
				continue
			}
			t.Run(fmt.Sprintf("%s, paced %v", tc.name, pace), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					rec := newRecorder()
					m, srv, stop := pipeManager(t, tc.cfg, tc.proto, Options{Channels: []string{"a", "b"}, Handler: rec, ReadCoalesce: pace})
					defer stop()
					waitFor(t, time.Minute, "ready", m.Ready)
					n := srv.Generate(context.Background(), twitchtest.Gen{Channels: []string{"a", "b"}, Rate: 2000, Count: 500})
					waitFor(t, time.Minute, "all lines", func() bool { return rec.privmsgs() == n })
					c := m.Status().Connections[0].Counters
					if c.ParseErrors != 0 || c.Oversized != 0 || c.Reconnects != 0 || c.ByCommand["PRIVMSG"] != uint64(n) {
						t.Errorf("counters %+v", c)
					}
				})
			})
		}
	}
}

// TestHugeLine sends 1 MiB without a newline: over TCP the line is skipped
// and the connection goes on; over WebSocket the message exceeds the read
// limit and the connection is reset and comes back.
func TestHugeLine(t *testing.T) {
	for _, tc := range []struct {
		proto     string
		reconnect bool
	}{
		{"tcp", false},
		{"ws", true},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder()
				m, srv, stop := pipeManager(t, twitchtest.Config{}, tc.proto, Options{Channels: []string{"a"}, Handler: rec})
				defer stop()
				waitFor(t, time.Minute, "ready", m.Ready)
				huge := bytes.Repeat([]byte("x"), 1<<20)
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				go srv.Clients()[0].WriteRaw(huge)
				if tc.reconnect {
					waitFor(t, time.Minute, "reconnect", func() bool { return m.Status().Connections[0].Counters.Reconnects == 1 })
					waitFor(t, time.Minute, "ready again", m.Ready)
				} else {
					time.Sleep(time.Second)
					srv.Clients()[0].WriteRaw([]byte("\r\n"))
					waitFor(t, time.Minute, "oversized counted", func() bool { return m.Status().Connections[0].Counters.Oversized == 1 })
				}
				srv.Generate(context.Background(), twitchtest.Gen{Channels: []string{"a"}, Count: 10})
				waitFor(t, time.Minute, "lines after the huge one", func() bool { return rec.privmsgs() == 10 })
				c := m.Status().Connections[0].Counters
				if (c.Reconnects == 1) != tc.reconnect || c.ParseErrors != 0 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}

func TestHandlerBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp", Options{Channels: []string{"a"}, Handler: rec, PingInterval: time.Hour})
		defer stop()
		waitFor(t, time.Minute, "ready", m.Ready)
		block := make(chan struct{})
		rec.mu.Lock()
		rec.block = block
		rec.mu.Unlock()
		go srv.Generate(context.Background(), twitchtest.Gen{Channels: []string{"a"}, Count: 500})
		time.Sleep(30 * time.Second)
		if got := rec.privmsgs(); got != 0 {
			t.Fatalf("%d lines handled while the handler blocks", got)
		}
		if w := m.Status().Connections[0].Counters.HandlerWaitSeconds; w < 29 {
			t.Errorf("handler wait = %v s, want >= 29", w)
		}
		close(block)
		waitFor(t, time.Minute, "all lines", func() bool { return rec.privmsgs() == 500 })
		if c := m.Status().Connections[0].Counters; c.Reconnects != 0 {
			t.Errorf("reconnects = %d", c.Reconnects)
		}
	})
}

func TestHandlerErrorStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := twitchtest.NewServer(twitchtest.Config{})
		defer srv.Close()
		url, dial, _ := srv.ListenPipe("tcp")
		boom := errors.New("bus closed")
		m, _ := New(Options{URL: url, Dial: dial, Channels: []string{"a"},
			Handler: HandlerFunc(func(ctx context.Context, l *Line) error {
				if l.Msg.IsCommand("ROOMSTATE") {
					return boom
				}
				return nil
			})})
		if err := m.Run(context.Background()); !errors.Is(err, boom) {
			t.Errorf("Run = %v, want %v", err, boom)
		}
		if err := m.AddChannels(context.Background(), "b"); err != ErrClosed {
			t.Errorf("AddChannels after Run = %v, want ErrClosed", err)
		}
	})
}

// connGoroutines counts the goroutines that run this package's code or the
// WebSocket library's: those a connection starts. Other goroutines of the
// process (the testing package's, a previous test's winding down) are not
// counted, so that the count changes only with the connections.
func connGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("ingress-egress/twitch.")) || bytes.Contains(g, []byte("coder/websocket")) {
			count++
		}
	}
	return count
}

// TestHundredReconnects drops the connection 100 times: every goroutine of
// the old connections must be gone.
func TestHundredReconnects(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		m, srv, stop := pipeManager(t, twitchtest.Config{}, "ws", Options{Channels: []string{"a"}, Handler: newRecorder()})
		defer stop()
		waitFor(t, time.Minute, "ready", m.Ready)
		base := connGoroutines()
		for i := 1; i <= 100; i++ {
			if i%2 == 0 {
				srv.CloseAll()
			} else {
				srv.Reconnect()
			}
			waitFor(t, time.Minute, "reconnected", func() bool {
				c := m.Status().Connections[0]
				return c.Counters.Reconnects == uint64(i) && c.State == stateReady && len(srv.Clients()) == 1
			})
		}
		time.Sleep(time.Second)
		if n := connGoroutines(); n > base {
			t.Errorf("%d goroutines of connections after 100 reconnects, %d after the first connect", n, base)
		}
		if st := m.Status(); st.Connections[0].LastReconnectReason == "" || st.Connections[0].Counters.AuthAttempts != 101 {
			t.Errorf("status:\n%s", statusString(st))
		}
	})
}
