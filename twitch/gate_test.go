package twitch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// sharedGate is a JoinGate backed by one window that several managers
// share, as the processes of a cluster share the account's budget.
type sharedGate struct {
	w     *window
	calls atomic.Int64
	fail  atomic.Bool
	mu    sync.Mutex
	asked map[string]int // login → JOINs asked
}

func newSharedGate(rate int, per time.Duration) *sharedGate {
	return &sharedGate{w: newWindow(rate, per), asked: map[string]int{}}
}

func (g *sharedGate) TakeJoins(ctx context.Context, login string, n int) (int, error) {
	g.calls.Add(1)
	g.mu.Lock()
	g.asked[login] += n
	g.mu.Unlock()
	if g.fail.Load() {
		return 0, errors.New("budget unreachable")
	}
	for {
		taken, retry := g.w.take(time.Now(), n)
		if taken > 0 {
			return taken, nil
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// startShared starts n managers logged in as "bot" on one fake server, each
// wanting its own channels, with gate as their JoinGate (nil: each its own
// limit, as separate processes without a shared budget have).
func startShared(t *testing.T, srv *twitchtest.Server, n, channels int, gate JoinGate) (ms []*Manager, stop func()) {
	t.Helper()
	url, dial, err := srv.ListenPipe("tcp")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		chans := channelNames(channels * n)[i*channels : (i+1)*channels]
		m, err := New(Options{
			URL: url, Dial: dial, Login: "bot", Auth: &fakeAuth{login: "bot", tokens: []string{"tok"}},
			Channels: chans, Handler: newRecorder(), JoinGate: gate, ChannelsPerConn: 30,
		})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		wg.Go(func() { m.Run(ctx) })
	}
	return ms, func() { cancel(); wg.Wait() }
}

func allReady(ms []*Manager) func() bool {
	return func() bool {
		for _, m := range ms {
			if !m.Ready() {
				return false
			}
		}
		return true
	}
}

// Two managers logged in as one account, as two processes of a cluster,
// share a JoinGate: every JOIN they send goes through it — the first ones,
// the JOINs again on the new connections after a RECONNECT, and after the
// server dropped every connection — and the server, which drops a login
// over 20 JOINs in any 10 s, never has to. Without the gate the same two
// managers, each within its own limit, exceed the account's.
func TestJoinGateShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := twitchtest.NewServer(twitchtest.Config{Tokens: map[string]string{"bot": "tok"}})
		defer srv.Close()
		gate := newSharedGate(20, 10*time.Second)
		ms, stop := startShared(t, srv, 2, 60, gate)
		defer stop()
		waitFor(t, 10*time.Minute, "120 channels joined", allReady(ms))
		if st := srv.Stats(); st.Joins != 120 {
			t.Errorf("%d JOINs for 120 channels", st.Joins)
		}
		if n := srv.Reconnect(); n == 0 {
			t.Fatal("no client to send RECONNECT to")
		}
		waitFor(t, 10*time.Minute, "every channel joined on the new connections", func() bool {
			return srv.Stats().Joins >= 240 && allReady(ms)()
		})
		srv.CloseAll()
		time.Sleep(time.Second)
		waitFor(t, 10*time.Minute, "every channel joined again after the connections dropped", func() bool {
			return srv.Stats().Joins >= 360 && allReady(ms)()
		})
		st := srv.Stats()
		t.Logf("2 managers, one account, 120 channels, RECONNECT then every connection dropped: %d JOINs, %d gate calls, %d drops for the JOIN limit", st.Joins, gate.calls.Load(), st.JoinKicks)
		if st.JoinKicks != 0 {
			t.Errorf("the server dropped %d connections for more than 20 JOINs in 10 s", st.JoinKicks)
		}
		gate.mu.Lock()
		asked := gate.asked["bot"]
		gate.mu.Unlock()
		if asked < st.Joins {
			t.Errorf("the gate was asked for %d JOINs of bot, the server saw %d: some JOINs bypassed it", asked, st.Joins)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		srv := twitchtest.NewServer(twitchtest.Config{Tokens: map[string]string{"bot": "tok"}})
		defer srv.Close()
		_, stop := startShared(t, srv, 2, 60, nil)
		defer stop()
		waitFor(t, time.Minute, "a drop for the JOIN limit", func() bool { return srv.Stats().JoinKicks > 0 })
	})
}

// A JoinGate that fails sends nothing and is asked again a second later;
// once it works the channels join. Anonymous connections do not ask it.
func TestJoinGateFailsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := newSharedGate(20, 10*time.Second)
		gate.fail.Store(true)
		m, srv, stop := pipeManager(t, twitchtest.Config{Tokens: map[string]string{"bot": "tok"}}, "tcp",
			Options{Login: "bot", Auth: &fakeAuth{login: "bot", tokens: []string{"tok"}}, Channels: channelNames(5),
				Handler: newRecorder(), JoinGate: gate})
		defer stop()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if st := srv.Stats(); st.Joins != 0 {
			t.Errorf("%d JOINs sent while the gate failed", st.Joins)
		}
		if c := gate.calls.Load(); c < 5 || c > 12 {
			t.Errorf("the failing gate was asked %d times in 10 s, want about one a second", c)
		}
		gate.fail.Store(false)
		waitFor(t, time.Minute, "joined once the gate works", m.Ready)
		if st := srv.Stats(); st.Joins != 5 {
			t.Errorf("%d JOINs for 5 channels", st.Joins)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		gate := newSharedGate(20, 10*time.Second)
		m, _, stop := pipeManager(t, twitchtest.Config{}, "tcp",
			Options{Channels: channelNames(5), Handler: newRecorder(), JoinGate: gate})
		defer stop()
		waitFor(t, time.Minute, "anonymous joined", m.Ready)
		if c := gate.calls.Load(); c != 0 {
			t.Errorf("an anonymous connection asked the gate %d times", c)
		}
	})
}
