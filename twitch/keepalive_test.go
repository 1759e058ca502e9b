package twitch

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

func TestServerPingsAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, srv, stop := pipeManager(t, twitchtest.Config{PingInterval: 10 * time.Second, PongTimeout: 2 * time.Second}, "tcp",
			Options{Channels: []string{"a"}, Handler: newRecorder()})
		defer stop()
		waitFor(t, 10*time.Second, "ready", m.Ready)
		time.Sleep(2 * time.Minute)
		st := srv.Stats()
		if st.PingTimeouts != 0 || st.Pongs < 11 {
			t.Errorf("server stats after 2 min: %+v, want >= 11 pongs and no ping timeout", st)
		}
		if c := m.Status().Connections[0]; c.Counters.Reconnects != 0 || c.Counters.ByCommand["PING"] < 11 {
			t.Errorf("status: %+v", c.Counters)
		}
	})
}

func TestOwnPingWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp",
			Options{Channels: []string{"a"}, Handler: newRecorder(), PingInterval: 15 * time.Second, PongTimeout: 5 * time.Second})
		defer stop()
		waitFor(t, 10*time.Second, "ready", m.Ready)
		time.Sleep(61 * time.Second)
		// Idle 15 s, PING, PONG at once; again every 15 s: 4 in 61 s.
		if got := srv.Stats().Pings; got != 4 {
			t.Errorf("client PINGs in 61 s idle = %d, want 4", got)
		}
		c := m.Status().Connections[0]
		if c.Counters.Reconnects != 0 || c.Counters.ByCommand["PONG"] != 4 || c.State != stateReady {
			t.Errorf("status: state %s counters %+v", c.State, c.Counters)
		}
	})
}

func TestBlackholeDetected(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ping, pong time.Duration
	}{
		{"defaults", 0, 0},
		{"short", 3 * time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp",
					Options{Channels: []string{"a"}, Handler: newRecorder(), PingInterval: tc.ping, PongTimeout: tc.pong})
				defer stop()
				waitFor(t, 10*time.Second, "ready", m.Ready)
				ping, pong := m.o.PingInterval, m.o.PongTimeout
				srv.Blackhole(true)
				start := time.Now()
				waitFor(t, time.Minute, "the dead connection to be noticed", func() bool { return !m.Ready() })
				took := time.Since(start)
				if took < pong || took > ping+pong {
					t.Errorf("half-open connection noticed after %v, want within [%v, %v]", took, pong, ping+pong)
				}
				if e := m.Status().Connections[0].LastError; !strings.Contains(e, ErrPongTimeout.Error()) {
					t.Errorf("last error = %q, want %q", e, ErrPongTimeout)
				}
				srv.Blackhole(false)
				waitFor(t, time.Minute, "ready again", m.Ready)
				st := m.Status()
				if st.Gaps != 1 || len(st.RecentGaps) != 1 || st.RecentGaps[0].Channel != "a" {
					t.Errorf("gaps = %d %+v, want one gap of a", st.Gaps, st.RecentGaps)
				}
				if st.Connections[0].Counters.Reconnects != 1 {
					t.Errorf("reconnects = %d, want 1", st.Connections[0].Counters.Reconnects)
				}
			})
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		rand func(int64) int64
		want []float64 // seconds
	}{
		{"highest", func(n int64) int64 { return n - 1 }, []float64{1, 2, 4, 8, 16, 30, 30, 30}},
		{"lowest", func(n int64) int64 { return 0 }, []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newJitterBackoff(time.Second, 30*time.Second)
			b.rand = tc.rand
			for i, w := range tc.want {
				want := time.Duration(w * float64(time.Second))
				if got := b.next(); got != want {
					t.Errorf("attempt %d: next() = %v, want %v", i, got, want)
				}
			}
			b.reset()
			if got := b.ceiling(b.attempt); got != time.Second {
				t.Errorf("after reset ceiling = %v, want 1s", got)
			}
		})
	}
}

func TestBackoffJitter(t *testing.T) {
	b := newJitterBackoff(time.Second, 30*time.Second)
	const n = 2000
	seen := make(map[time.Duration]bool)
	var sum time.Duration
	for range n {
		b.attempt = 10
		d := b.next()
		if d < 500*time.Millisecond || d > 30*time.Second {
			t.Fatalf("delay %v outside [0.5s, 30s]", d)
		}
		seen[d] = true
		sum += d
	}
	if len(seen) < n/2 {
		t.Errorf("%d distinct delays in %d draws: not jittered", len(seen), n)
	}
	// Uniform on [0.5 s, 30 s]: mean 15.25 s.
	if mean := sum / n; mean < 13*time.Second || mean > 17*time.Second {
		t.Errorf("mean delay %v, want about 15.25s", mean)
	}
}

// dialLog records when dials happen and can make them fail.
type dialLog struct {
	mu    sync.Mutex
	times []time.Time
	fail  bool
	next  func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (d *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.times = append(d.times, time.Now())
	fail := d.fail
	d.mu.Unlock()
	if fail {
		return nil, errors.New("connection refused")
	}
	return d.next(ctx, network, addr)
}

func (d *dialLog) snapshot() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.times...)
}

func TestReconnectBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dl := &dialLog{fail: true}
		m, err := New(Options{URL: "tcp://127.0.0.1:1", Dial: dl.dial, Channels: []string{"a"}, Handler: newRecorder()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := m.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want deadline exceeded", err)
		}
		times := dl.snapshot()
		// Ceilings 1, 2, 4, 8, 16, 30, 30…: at least 12 attempts in 5 min
		// (sum of ceilings of 12 attempts = 271 s), at most 5min/0.5s.
		if len(times) < 12 || len(times) > 600 {
			t.Fatalf("%d dials in 5 min", len(times))
		}
		for i := 1; i < len(times); i++ {
			d := times[i].Sub(times[i-1])
			ceil := newJitterBackoff(time.Second, 30*time.Second).ceiling(i - 1)
			if d < 500*time.Millisecond || d > ceil {
				t.Errorf("delay before dial %d = %v, want within [0.5s, %v]", i, d, ceil)
			}
		}
		if e := m.Status().Connections[0].LastError; !strings.Contains(e, "connection refused") {
			t.Errorf("last error = %q", e)
		}
	})
}

func TestLoginFailureRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		auth := &fakeAuth{login: "bot", tokens: []string{"expired", "fresh"}}
		m, srv, stop := pipeManager(t, twitchtest.Config{Tokens: map[string]string{"bot": "fresh"}}, "tcp",
			Options{Login: "bot", Auth: auth, Channels: []string{"a"}, Handler: newRecorder()})
		defer stop()
		waitFor(t, time.Minute, "ready", m.Ready)
		if st := srv.Stats(); st.LoginFailures != 1 || st.Logins != 1 {
			t.Errorf("server: %d login failures, %d logins, want 1 and 1", st.LoginFailures, st.Logins)
		}
		if auth.invalidated != 1 || auth.calls != 2 {
			t.Errorf("auth: %d invalidations, %d calls, want 1 and 2", auth.invalidated, auth.calls)
		}
		c := m.Status().Connections[0]
		if c.Login != "bot" || c.Counters.LoginFailures != 1 {
			t.Errorf("login %q, login failures %d", c.Login, c.Counters.LoginFailures)
		}
	})
}

func TestAuthAttemptLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		auth := &fakeAuth{login: "bot", tokens: []string{"bad"}}
		srv := twitchtest.NewServer(twitchtest.Config{Tokens: map[string]string{"bot": "good"}})
		defer srv.Close()
		url, dial, _ := srv.ListenPipe("tcp")
		dl := &dialLog{next: dial}
		m, _ := New(Options{URL: url, Dial: dl.dial, Login: "bot", Auth: auth, Channels: []string{"a"}, Handler: newRecorder(),
			ReconnectInitial: time.Millisecond, ReconnectMax: time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m.Run(ctx)
		times := dl.snapshot()
		if len(times) < 40 {
			t.Fatalf("%d attempts in a minute with 1 ms backoff: the test does not press the limit", len(times))
		}
		for i := authRate; i < len(times); i++ {
			if d := times[i].Sub(times[i-authRate]); d < authWindow {
				t.Fatalf("%d login attempts within %v", authRate+1, d)
			}
		}
		if st := srv.Stats(); st.Logins != 0 || st.LoginFailures != len(times) {
			t.Errorf("server stats %+v, want %d failures", st, len(times))
		}
	})
}
