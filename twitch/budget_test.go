package twitch

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// Twitch counts JOINs per identity, and every anonymous connection is its
// own justinfan identity: 1,000 channels over 12 anonymous connections
// join in well under a minute with the default limits, and the server
// (which drops a login over 20 JOINs per 10 s) never drops one. New
// anonymous connections stay within ConnectRate per second.
func TestAnonymousBudgetsPerConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := twitchtest.NewServer(twitchtest.Config{})
		defer srv.Close()
		url, dial, err := srv.ListenPipe("tcp")
		if err != nil {
			t.Fatal(err)
		}
		dl := &dialLog{next: dial}
		m, err := New(Options{URL: url, Dial: dl.dial, Channels: channelNames(1000), Handler: newRecorder()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		defer func() { cancel(); <-done }()
		start := time.Now()
		waitFor(t, 10*time.Minute, "1,000 channels joined", m.Ready)
		if took := time.Since(start); took > 60*time.Second {
			t.Errorf("1,000 channels joined in %v, want at most 60 s", took)
		}
		st := srv.Stats()
		if st.JoinKicks != 0 || st.Joins != 1000 {
			t.Errorf("server: %d JOINs, %d drops for the JOIN limit; want 1000 and 0", st.Joins, st.JoinKicks)
		}
		times := dl.snapshot()
		if len(times) != 12 {
			t.Errorf("%d connections for 1,000 channels, want 12", len(times))
		}
		rate := m.o.ConnectRate
		for i := rate; i < len(times); i++ {
			if d := times[i].Sub(times[i-rate]); d < time.Second {
				t.Errorf("%d new anonymous connections within %v", rate+1, d)
			}
		}
	})
}

// The connections of one account share its JOIN budget: 200 channels over
// three connections logged in as "bot" take at least nine windows, and the
// server never sees more than 20 JOINs of "bot" in 10 s.
func TestAccountBudgetShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		auth := &fakeAuth{login: "bot", tokens: []string{"tok"}}
		m, srv, stop := pipeManager(t, twitchtest.Config{Tokens: map[string]string{"bot": "tok"}}, "tcp",
			Options{Login: "bot", Auth: auth, Channels: channelNames(200), Handler: newRecorder()})
		defer stop()
		start := time.Now()
		waitFor(t, 10*time.Minute, "200 channels joined", m.Ready)
		if took := time.Since(start); took < 90*time.Second {
			t.Errorf("200 channels of one account joined in %v: faster than 20 per 10 s", took)
		}
		st := srv.Stats()
		if st.JoinKicks != 0 || st.Joins != 200 || st.Logins != 3 {
			t.Errorf("server: %d JOINs, %d drops, %d logins; want 200, 0, 3", st.Joins, st.JoinKicks, st.Logins)
		}
	})
}
