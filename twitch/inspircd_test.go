package twitch

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/testenv"
	"github.com/ingress-egress/ingress-egress/ircv3"
)

// Against InspIRCd 3, a generic IRCv3 server: it NAKs Twitch's caps, needs
// USER and CAP END, PINGs every 2 s and drops a client silent for 4 s.

func inspircdManager(t *testing.T, d *testenv.IRCd, url string, rec *recorder) (*Manager, func()) {
	t.Helper()
	tc := d.Cert.ClientConfig()
	m, err := New(Options{
		URL:              url,
		TLSConfig:        tc,
		Caps:             []string{capTags, capCommands, "message-tags", "server-time"},
		Channels:         []string{"#Test"},
		Handler:          rec,
		ReconnectInitial: 200 * time.Millisecond,
		ReconnectMax:     time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	return m, func() {
		m.Close()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

// ircClient is a second, plain client that talks to the server directly.
type ircClient struct {
	c net.Conn
	r *ircv3.Reader
}

func dialIRC(t *testing.T, port int, nick string) *ircClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", testenv.Addr(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &ircClient{c: c, r: ircv3.NewReader(c, 0)}
	cl.send(t, "CAP REQ :message-tags", "NICK "+nick, "USER "+nick+" 0 * :"+nick)
	cl.expect(t, "CAP")
	cl.send(t, "CAP END")
	cl.expect(t, "001")
	return cl
}

func (cl *ircClient) send(t *testing.T, lines ...string) {
	t.Helper()
	if _, err := cl.c.Write([]byte(strings.Join(lines, "\r\n") + "\r\n")); err != nil {
		t.Fatal(err)
	}
}

// expect reads until a line with command cmd (answering PINGs).
func (cl *ircClient) expect(t *testing.T, cmd string) string {
	t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := cl.r.ReadLine()
		if err != nil {
			t.Fatalf("waiting for %s: %v", cmd, err)
		}
		m, err := ircv3.Parse(line)
		if err != nil {
			continue
		}
		if m.IsCommand("PING") {
			cl.send(t, "PONG :"+string(m.Trailing()))
		}
		if string(m.Command) == cmd {
			return string(line)
		}
	}
}

func waitReal(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInspIRCd(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	d := testenv.InspIRCd(t)
	for _, tc := range []struct {
		name string
		url  string
	}{
		{"tls", fmt.Sprintf("tls://127.0.0.1:%d", d.TLS)},
		{"wss", fmt.Sprintf("wss://localhost:%d", d.WSS)},
		{"tcp", fmt.Sprintf("irc://127.0.0.1:%d", d.Plain)},
		{"ws", fmt.Sprintf("ws://127.0.0.1:%d", d.WS)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			rec.keep = true
			m, stop := inspircdManager(t, d, tc.url, rec)
			defer stop()
			waitReal(t, 10*time.Second, "ready", m.Ready)

			// Twitch's caps were refused, the generic ones granted.
			c := m.Status().Connections[0]
			if c.Counters.ByCommand["CAP"] != 4 || c.State != stateReady {
				t.Errorf("state %s, CAP replies %d, want ready and 4", c.State, c.Counters.ByCommand["CAP"])
			}

			sender := dialIRC(t, d.Plain, "sender"+tc.name)
			sender.send(t, "JOIN #test")
			sender.expect(t, "JOIN")
			sender.send(t, "@+example=hello\\sworld PRIVMSG #test :hi from "+tc.name)
			waitReal(t, 10*time.Second, "the PRIVMSG", func() bool { return rec.count("PRIVMSG") == 1 })
			rec.mu.Lock()
			var got string
			for _, r := range rec.raws {
				if strings.Contains(r, " PRIVMSG ") {
					got = r
				}
			}
			rec.mu.Unlock()
			msg, err := ircv3.Parse([]byte(got))
			if err != nil {
				t.Fatalf("parse %q: %v", got, err)
			}
			if v, _ := msg.Tag("+example"); string(v) != `hello\sworld` || !msg.HasTag("msgid") || !msg.HasTag("time") {
				t.Errorf("PRIVMSG %q: want tags +example, msgid and time", got)
			}
			if string(msg.Trailing()) != "hi from "+tc.name || string(msg.Param(0)) != "#test" {
				t.Errorf("PRIVMSG %q", got)
			}
		})
	}
}

// TestInspIRCdIdleAndRestart stays idle for a minute while the server PINGs
// every 2 s (a missed PONG would make InspIRCd drop the client), then
// survives a restart of the server: it reconnects and joins again. It runs
// beside the other tests, on its own server, so the minute costs CI little.
func TestInspIRCdIdleAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	t.Parallel()
	d := testenv.InspIRCd(t)
	rec := newRecorder()
	m, stop := inspircdManager(t, d, fmt.Sprintf("wss://127.0.0.1:%d", d.WSS), rec)
	defer stop()
	waitReal(t, 10*time.Second, "ready", m.Ready)

	time.Sleep(time.Minute)
	c := m.Status().Connections[0]
	if c.Counters.Reconnects != 0 || c.Counters.ByCommand["PING"] < 20 || !m.Ready() {
		t.Fatalf("after a minute idle: reconnects %d, server PINGs %d, ready %v; want 0, >= 20, true",
			c.Counters.Reconnects, c.Counters.ByCommand["PING"], m.Ready())
	}

	d.Restart()
	waitReal(t, 20*time.Second, "reconnected", func() bool { return m.Status().Connections[0].Counters.Reconnects >= 1 })
	waitReal(t, 20*time.Second, "ready again", m.Ready)
	st := m.Status()
	if st.Gaps != 1 || st.RecentGaps[0].Channel != "test" {
		t.Errorf("gaps %d %+v, want one for test", st.Gaps, st.RecentGaps)
	}
	sender := dialIRC(t, d.Plain, "sender")
	sender.send(t, "JOIN #test", "PRIVMSG #test :after the restart")
	waitReal(t, 10*time.Second, "a PRIVMSG after the restart", func() bool { return rec.count("PRIVMSG") == 1 })
}
