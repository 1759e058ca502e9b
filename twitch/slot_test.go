package twitch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

func channelNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("chan%03d", i)
	}
	return out
}

func TestJoinRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rate      int // manager's JOINs per 10 s
		wantKicks bool
	}{
		{"within the limit", 20, false},
		{"over the limit the server drops us", 40, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp",
					Options{Channels: channelNames(100), Handler: newRecorder(), JoinRate: tc.rate})
				defer stop()
				start := time.Now()
				if !tc.wantKicks {
					waitFor(t, 2*time.Minute, "ready", m.Ready)
					// 100 JOINs at 20 per 10 s: the last batch cannot go before
					// 4 windows. (The manager keeps a 5 % margin, so about 42 s,
					// but start is taken after the first JOINs may have gone.)
					if took := time.Since(start); took < 40*time.Second {
						t.Errorf("100 channels joined after %v: faster than 20 per 10 s", took)
					}
					st := m.Status()
					if len(st.Connections) != 2 || len(st.Connections[0].Joined) != 90 || len(st.Connections[1].Joined) != 10 {
						t.Errorf("want 90 + 10 channels on 2 connections:\n%s", statusString(st))
					}
				} else {
					time.Sleep(30 * time.Second)
				}
				if kicks := srv.Stats().JoinKicks; (kicks > 0) != tc.wantKicks {
					t.Errorf("server JOIN-limit kicks = %d, want kicks %v", kicks, tc.wantKicks)
				}
			})
		})
	}
}

func TestJoinedListsConfirmedChannels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp", Options{Channels: []string{"b", "a", "c"}, Handler: newRecorder()})
		defer stop()
		waitFor(t, time.Minute, "ready", m.Ready)
		if got := m.Joined(); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("Joined() = %q, want [a b c]", got)
		}
		srv.CloseAll()
		waitFor(t, time.Minute, "the drop noticed", func() bool { return len(m.Joined()) == 0 })
		waitFor(t, time.Minute, "joined again", func() bool { return len(m.Joined()) == 3 })
		if err := m.RemoveChannels(context.Background(), "b"); err != nil {
			t.Fatal(err)
		}
		if got := m.Joined(); !slices.Equal(got, []string{"a", "c"}) {
			t.Errorf("after removing b: Joined() = %q, want [a c]", got)
		}
	})
}

func TestJoinConfirmationRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg := twitchtest.Config{}
		srv := twitchtest.NewServer(srvCfg)
		srv.IgnoreJoins(1)
		url, dial, _ := srv.ListenPipe("tcp")
		defer srv.Close()
		m, _ := New(Options{URL: url, Dial: dial, Channels: []string{"a"}, Handler: newRecorder()})
		go m.Run(context.Background())
		defer m.Close()
		start := time.Now()
		waitFor(t, time.Minute, "ready", m.Ready)
		if took := time.Since(start); took < m.o.JoinTimeout || took > m.o.JoinTimeout+time.Second {
			t.Errorf("joined after %v, want just after the %v JOIN timeout", took, m.o.JoinTimeout)
		}
		c := m.Status().Connections[0]
		if c.Counters.Joins != 2 || c.Counters.JoinRetries != 1 {
			t.Errorf("joins %d retries %d, want 2 and 1", c.Counters.Joins, c.Counters.JoinRetries)
		}
	})
}

func TestChannelFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := twitchtest.NewServer(twitchtest.Config{})
		srv.Suspend("gone", "msg_channel_suspended")
		url, dial, _ := srv.ListenPipe("tcp")
		defer srv.Close()
		m, _ := New(Options{URL: url, Dial: dial, Channels: []string{"a", "b", "gone"}, Handler: newRecorder()})
		go m.Run(context.Background())
		defer m.Close()
		waitFor(t, time.Minute, "ready", m.Ready)
		st := m.Status()
		if want := []Failed{{"gone", "msg_channel_suspended"}}; !slices.Equal(st.Failed, want) || st.Joined != 2 {
			t.Fatalf("failed = %v joined %d, want %v and 2", st.Failed, st.Joined, want)
		}
		// Twitch parts us from a channel that gets suspended.
		srv.Clients()[0].Part("b")
		waitFor(t, time.Second, "b failed", func() bool { return len(m.Status().Failed) == 2 })
		if f := m.Status().Failed; f[0] != (Failed{"b", "parted by server"}) {
			t.Errorf("failed = %v", f)
		}
		if !m.Ready() {
			t.Error("failed channels hold readiness back")
		}
		// Added again once it is back, it is joined.
		srv.Suspend("gone", "")
		if err := m.AddChannels(context.Background(), "#GONE"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "gone joined", func() bool { return m.Status().Joined == 2 && len(m.Status().Failed) == 1 })
		if got := srv.Clients()[0].Channels(); !slices.Equal(got, []string{"a", "gone"}) {
			t.Errorf("server sees channels %v", got)
		}
	})
}

func TestRejoinAfterDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp", Options{Channels: channelNames(30), Handler: newRecorder()})
		defer stop()
		waitFor(t, time.Minute, "ready", m.Ready)
		srv.CloseAll()
		waitFor(t, time.Second, "not ready", func() bool { return !m.Ready() })
		waitFor(t, 2*time.Minute, "ready again", m.Ready)
		st := m.Status()
		if st.Gaps != 30 || len(st.OpenGaps) != 0 {
			t.Errorf("gaps = %d, open %d, want 30 closed", st.Gaps, len(st.OpenGaps))
		}
		for _, g := range st.RecentGaps {
			if !g.End.After(g.Start) {
				t.Errorf("gap %+v does not end after its start", g)
			}
		}
		cl := srv.Clients()
		if len(cl) != 1 || len(cl[0].Channels()) != 30 {
			t.Errorf("server: %d clients", len(cl))
		}
		if ss := srv.Stats(); ss.JoinKicks != 0 || ss.Joins != 60 {
			t.Errorf("server: %d joins, %d kicks, want 60 and 0", ss.Joins, ss.JoinKicks)
		}
	})
}

func TestAddRemoveAtRuntime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp", Options{Handler: newRecorder(), ChannelsPerConn: 2})
		defer stop()
		ctx := context.Background()
		if !m.Ready() || len(m.Status().Connections) != 0 {
			t.Fatalf("with no channels: ready %v, %d connections", m.Ready(), len(m.Status().Connections))
		}
		for _, bad := range []string{"", "#", "a b", "a,b", "x\r\nQUIT", "a\x01b", "ÄÖÜ", "../../etc", "test-chan"} {
			if err := m.AddChannels(ctx, "ok", bad); !errors.Is(err, ErrInvalidChannel) {
				t.Errorf("AddChannels(%q) = %v, want ErrInvalidChannel", bad, err)
			}
		}
		if err := m.AddChannels(ctx, "One", "#two", "three"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "ready", m.Ready)
		if st := m.Status(); len(st.Connections) != 2 || st.Joined != 3 {
			t.Fatalf("status:\n%s", statusString(st))
		}
		if err := m.RemoveChannels(ctx, "TWO", "unknown"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, "two parted on the server", func() bool {
			for _, c := range srv.Clients() {
				if c.InChannel("two") {
					return false
				}
			}
			return true
		})
		if err := m.RemoveChannels(ctx, "three"); err != nil {
			t.Fatal(err)
		}
		// The second connection has no channel left and closes.
		waitFor(t, time.Second, "one connection", func() bool { return len(srv.Clients()) == 1 && len(m.Status().Connections) == 1 })
		if st := m.Status(); st.Wanted != 1 || st.Joined != 1 || !st.Ready {
			t.Errorf("status:\n%s", statusString(st))
		}
		// Removed and added again at once: PART then JOIN, joined in the end.
		m.RemoveChannels(ctx, "one")
		m.AddChannels(ctx, "one")
		time.Sleep(5 * time.Second)
		if st := m.Status(); !st.Ready || st.Joined != 1 || len(st.Failed) != 0 {
			t.Errorf("after remove+add:\n%s", statusString(st))
		}
	})
}

// TestReconnectOverlap sends a continuous stream of unique ids while the
// server asks for a reconnect: every id must arrive exactly once.
func TestReconnectOverlap(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ignoreJoins int // JOINs of the new connection left unanswered
		proto       string
	}{
		{"tcp", 0, "tcp"},
		{"ws", 0, "ws"},
		{"slow join", 3, "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder()
				chans := channelNames(10)
				m, srv, stop := pipeManager(t, twitchtest.Config{LinesPerFrame: 3, JoinDelay: 50 * time.Millisecond}, tc.proto, Options{Channels: chans, Handler: rec})
				defer stop()
				waitFor(t, time.Minute, "ready", m.Ready)

				var mu sync.Mutex
				sent := map[string]int{}
				ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
				defer cancel()
				genDone := make(chan int)
				go func() {
					genDone <- srv.Generate(ctx, twitchtest.Gen{Channels: chans, Rate: 500, OnSent: func(id string, n int) {
						mu.Lock()
						sent[id] = n
						mu.Unlock()
					}})
				}()
				time.Sleep(2 * time.Second)
				srv.IgnoreJoins(tc.ignoreJoins)
				if n := srv.Reconnect(); n != 1 {
					t.Fatalf("RECONNECT sent to %d clients", n)
				}
				n := <-genDone
				waitFor(t, 10*time.Second, "every id", func() bool { return rec.privmsgs() >= n })
				time.Sleep(time.Second)

				mu.Lock()
				defer mu.Unlock()
				rec.mu.Lock()
				defer rec.mu.Unlock()
				var lost, doubled, noClient, both int
				for id, clients := range sent {
					switch {
					case clients == 0:
						noClient++
					case rec.ids[id] == 0:
						lost++
					case rec.ids[id] > 1:
						doubled++
					}
					if clients == 2 {
						both++
					}
				}
				if len(sent) != n || n < 19000 {
					t.Fatalf("generated %d (%d ids)", n, len(sent))
				}
				if lost != 0 || doubled != 0 || noClient != 0 || len(rec.ids) != n {
					t.Errorf("%d ids: %d lost, %d doubled, %d sent to no client, %d received", n, lost, doubled, noClient, len(rec.ids))
				}
				st := m.Status()
				c := st.Connections[0]
				// Every dedup hit is an id read on both connections; an id the
				// server wrote to the old connection after its drain PING is
				// never read there (the new one delivered it), so hits may be
				// fewer than the ids sent to both.
				if both == 0 || c.Counters.DedupHits == 0 || c.Counters.DedupHits > uint64(both) {
					t.Errorf("%d ids went to both connections, %d dedup hits", both, c.Counters.DedupHits)
				}
				if c.Counters.Reconnects != 1 || st.Gaps != 0 || c.LastReconnectReason != ErrServerReconnect.Error() {
					t.Errorf("reconnects %d gaps %d reason %q", c.Counters.Reconnects, st.Gaps, c.LastReconnectReason)
				}
				if cl := srv.Clients(); len(cl) != 1 || cl[0].ID() != 2 {
					t.Errorf("server has %d clients, want only the new one", len(cl))
				}
				if c.State != stateReady || !strings.HasPrefix(c.Login, "justinfan") {
					t.Errorf("state %s login %s", c.State, c.Login)
				}
				t.Logf("%d ids, %d on both connections", n, both)
			})
		})
	}
}
