package twitch

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// At shutdown the manager logs the gap it leaves: from the last line a
// connection it ended read (what the server sent after that was never
// read), over every channel that lost its reader. Without it, lines
// written while the service was stopping fell in no reported interval.
func TestShutdownGapLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := twitchtest.NewServer(twitchtest.Config{})
		defer srv.Close()
		url, dial, err := srv.ListenPipe("tcp")
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		rec := newRecorder()
		m, err := New(Options{URL: url, Dial: dial, Channels: []string{"a", "b"}, Handler: rec,
			Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- m.Run(context.Background()) }()
		waitFor(t, time.Minute, "ready", m.Ready)
		time.Sleep(time.Second)
		srv.Broadcast("a", "@id=1 :u!u@u.tmi.twitch.tv PRIVMSG #a :hi")
		synctest.Wait()
		lastLine := time.Now()
		if rec.ids["1"] != 1 {
			t.Fatalf("the line was not handled: %v", rec.ids)
		}
		time.Sleep(3 * time.Second) // PINGs are not due yet: nothing more is read
		m.Close()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}

		var found int
		for _, l := range bytes.Split(logs.Bytes(), []byte("\n")) {
			var r struct {
				Message  string `json:"msg"`
				Since    time.Time
				Channels int
			}
			if json.Unmarshal(l, &r) != nil || r.Message != "reading stopped at shutdown: the channels' gap starts here" {
				continue
			}
			found++
			if !r.Since.Equal(lastLine) || r.Channels != 2 {
				t.Errorf("shutdown gap since %v over %d channels; want since the last line read, %v, over 2", r.Since, r.Channels, lastLine)
			}
		}
		if found != 1 {
			t.Errorf("%d shutdown gap records, want 1:\n%s", found, logs.String())
		}
		if st := m.Status(); len(st.OpenGaps) != 0 || st.Gaps != 0 {
			t.Errorf("status after Close: %d open gaps, %d closed; shutdown opens none", len(st.OpenGaps), st.Gaps)
		}
	})
}
