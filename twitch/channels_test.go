package twitch

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// Channels reports joined and failed channels apart, sorted; a channel
// being joined is in neither, and a failed one added again leaves the
// failed list.
func TestChannelsSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := twitchtest.NewServer(twitchtest.Config{})
		defer srv.Close()
		srv.Suspend("gone", "msg_channel_suspended")
		url, dial, err := srv.ListenPipe("tcp")
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(Options{URL: url, Dial: dial, Channels: []string{"b", "gone", "a"}, Handler: newRecorder()})
		if err != nil {
			t.Fatal(err)
		}
		if j, f := m.Channels(); len(j) != 0 || len(f) != 0 {
			t.Errorf("before Run: joined %q, failed %q", j, f)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		defer func() { cancel(); <-done }()
		waitFor(t, time.Minute, "ready", m.Ready)
		j, f := m.Channels()
		if !slices.Equal(j, []string{"a", "b"}) || !slices.Equal(f, []string{"gone"}) {
			t.Errorf("joined %q, failed %q; want [a b] and [gone]", j, f)
		}
		srv.Suspend("gone", "")
		if err := m.AddChannels(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "gone joined", func() bool { j, _ := m.Channels(); return len(j) == 3 })
		if _, f := m.Channels(); len(f) != 0 {
			t.Errorf("failed %q after the channel was added again and joined", f)
		}
	})
}
