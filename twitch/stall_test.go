package twitch

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// blockHandler makes rec's HandleLine wait until the returned channel is
// closed.
func blockHandler(rec *recorder) chan struct{} {
	block := make(chan struct{})
	rec.mu.Lock()
	rec.block = block
	rec.mu.Unlock()
	return block
}

// A reader that waits on the Handler (a bus that applies backpressure)
// reads nothing, but its connection is alive: the keepalive must not close
// it, which would throw away what the server and the kernel hold.
func TestStalledReaderIsNotADeadConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp", Options{Channels: []string{"a"}, Handler: rec})
		defer stop()
		waitFor(t, time.Minute, "ready", m.Ready)
		block := blockHandler(rec)
		go srv.Generate(context.Background(), twitchtest.Gen{Channels: []string{"a"}, Count: 500})
		time.Sleep(60 * time.Second) // three times PingInterval + PongTimeout
		st := m.Status()
		c := st.Connections[0]
		if st.Stalled != 1 || c.StalledSince.IsZero() || c.BehindSince.IsZero() {
			t.Errorf("while the handler waits: stalled = %d, stalledSince %v, behindSince %v; want 1 and both set",
				st.Stalled, c.StalledSince, c.BehindSince)
		}
		if c.Counters.StallSeconds < 50 {
			t.Errorf("stall seconds = %v while stalled for about 60 s", c.Counters.StallSeconds)
		}
		close(block)
		waitFor(t, time.Minute, "all lines", func() bool { return rec.privmsgs() == 500 })
		waitFor(t, time.Minute, "caught up", func() bool { return m.Status().Connections[0].BehindSince.IsZero() })
		st = m.Status()
		c = st.Connections[0]
		if c.Counters.Reconnects != 0 || st.Gaps != 0 {
			t.Errorf("reconnects = %d, gaps = %d: a stalled reader was taken for a dead connection", c.Counters.Reconnects, st.Gaps)
		}
		if c.Counters.Stalls != 1 || st.Stalled != 0 || !c.StalledSince.IsZero() {
			t.Errorf("after the stall: stalls = %d, stalled = %d, stalledSince %v; want 1, 0, zero", c.Counters.Stalls, st.Stalled, c.StalledSince)
		}
	})
}

// When the server drops a reader that fell behind (as Twitch does), the
// gap starts when reading stopped, not when the drop was noticed.
func TestStallThenDropGapStartsWhenReadingStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp", Options{Channels: []string{"a"}, Handler: rec})
		defer stop()
		waitFor(t, time.Minute, "ready", m.Ready)
		block := blockHandler(rec)
		stoppedReading := time.Now()
		srv.Broadcast("a", twitchtest.PrivmsgLine("a", twitchtest.MessageID(1), 1))
		time.Sleep(30 * time.Second)
		srv.CloseAll()
		time.Sleep(10 * time.Second)
		close(block)
		waitFor(t, time.Minute, "reconnected and ready", func() bool {
			return m.Status().Connections[0].Counters.Reconnects == 1 && m.Ready()
		})
		st := m.Status()
		if len(st.RecentGaps) != 1 {
			t.Fatalf("gaps %+v, want one", st.RecentGaps)
		}
		if g := st.RecentGaps[0]; g.Start.After(stoppedReading.Add(time.Second)) {
			t.Errorf("gap starts %v after reading stopped; want at the stall's start", g.Start.Sub(stoppedReading))
		}
	})
}

// A half-open connection delivers nothing from the moment it breaks, but
// is noticed only when the keepalive gives up: the gap starts at the last
// line it delivered, not when it was noticed.
func TestHalfOpenGapStartsAtTheLastLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		m, srv, stop := pipeManager(t, twitchtest.Config{}, "tcp", Options{Channels: []string{"a"}, Handler: rec})
		defer stop()
		waitFor(t, time.Minute, "ready", m.Ready)
		time.Sleep(5 * time.Second)
		broke := time.Now()
		srv.Blackhole(true)
		waitFor(t, time.Minute, "the dead connection noticed", func() bool { return !m.Ready() })
		srv.Blackhole(false)
		waitFor(t, time.Minute, "ready again", m.Ready)
		st := m.Status()
		if len(st.RecentGaps) != 1 {
			t.Fatalf("gaps %+v, want one", st.RecentGaps)
		}
		if g := st.RecentGaps[0]; g.Start.After(broke) {
			t.Errorf("gap starts %v after the connection broke; want at its last line, before", g.Start.Sub(broke))
		}
	})
}

// A server that closes connections that registered and joined (each
// reconnect accepted at once) is not a failure to back off from: every
// reconnect waits no more than the first delay's ceiling.
func TestBackoffStartsOverAfterAJoinedConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := twitchtest.NewServer(twitchtest.Config{})
		defer srv.Close()
		url, dial, err := srv.ListenPipe("tcp")
		if err != nil {
			t.Fatal(err)
		}
		dl := &dialLog{next: dial}
		m, err := New(Options{URL: url, Dial: dl.dial, Channels: []string{"a"}, Handler: newRecorder()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		defer func() { cancel(); <-done }()
		waitFor(t, time.Minute, "ready", m.Ready)
		for i := range 10 {
			closed := time.Now()
			dials := len(dl.snapshot())
			srv.CloseAll()
			waitFor(t, time.Minute, "a new dial", func() bool { return len(dl.snapshot()) > dials })
			if d := dl.snapshot()[dials].Sub(closed); d > m.o.ReconnectInitial {
				t.Errorf("close %d: redialled after %v, want at most %v", i+1, d, m.o.ReconnectInitial)
			}
			waitFor(t, time.Minute, "ready", m.Ready)
			time.Sleep(time.Second)
		}
		if n := m.Status().Connections[0].Counters.Reconnects; n != 10 {
			t.Errorf("reconnects = %d, want 10", n)
		}
	})
}
