package harness

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// Envelope is the part of an envelope the tests check.
type Envelope struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Source struct {
		Platform  string `json:"platform"`
		Channel   string `json:"channel"`
		ChannelID string `json:"channelId"`
	} `json:"source"`
	User struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"user"`
	Payload struct {
		Text      string `json:"text"`
		MessageID string `json:"messageId"`
	} `json:"payload"`
}

// Sent is what the fake server sent: the Nth generated PRIVMSG, in
// Channel.
type Sent struct {
	Channel string
	N       int
}

// WantUser is the login twitchtest.PrivmsgLine puts in the nth message.
func WantUser(n int) string { return "viewer" + strconv.Itoa(n%1000) }

// WantText is the text twitchtest.PrivmsgLine puts in the nth message.
func WantText(n int) string { return "message number " + strconv.Itoa(n) + " Kappa" }

// Generate makes the fake server send count PRIVMSGs round robin over
// channels as fast as the service reads them, within 30 s, and records them
// in sent by message id. Every message must reach exactly one client (the
// service).
func Generate(t testing.TB, fake *twitchtest.Server, channels []string, count int, sent map[string]Sent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, unseen := 0, 0
	got := fake.Generate(ctx, twitchtest.Gen{
		Channels: channels,
		Count:    count,
		OnSent: func(id string, clients int) {
			sent[id] = Sent{Channel: channels[n%len(channels)], N: n}
			n++
			if clients != 1 {
				unseen++
			}
		},
	})
	if got != count {
		t.Fatalf("generated %d of %d messages within 30 s", got, count)
	}
	if unseen > 0 {
		t.Fatalf("%d of %d messages did not reach exactly one client", unseen, count)
	}
}

// WaitAcked waits up to 20 s until the publisher has settled every
// accepted message and acked is want, and returns the last /_debug/twitch.
func WaitAcked(t testing.TB, base, token string, want uint64) DebugSnapshot {
	t.Helper()
	var d DebugSnapshot
	WaitFor(t, 20*time.Second, 20*time.Millisecond, "every envelope acknowledged", func() (bool, string) {
		d = Debug(t, base, token)
		return d.Bus.Acked == want && d.Bus.Pending == 0, "bus " + strconv.FormatUint(d.Bus.Acked, 10) + " acked, " + strconv.Itoa(d.Bus.Pending) + " pending"
	})
	return d
}

// CheckEnvelopes checks that msgs holds every message of sent exactly once,
// with its channel, user, text and id (also as Nats-Msg-Id), and nothing
// else. It reports the first 20 problems and then their number.
func CheckEnvelopes(t testing.TB, msgs []StoredMsg, sent map[string]Sent) {
	t.Helper()
	seen := make(map[string]int, len(msgs))
	bad := 0
	report := func(format string, args ...any) {
		bad++
		if bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, m := range msgs {
		var e Envelope
		if err := json.Unmarshal(m.Data, &e); err != nil {
			report("envelope is not JSON: %v: %q", err, m.Data)
			continue
		}
		id := e.Payload.MessageID
		seen[id]++
		s, ok := sent[id]
		if !ok {
			report("envelope for a message that was not sent: %s", m.Data)
			continue
		}
		if m.MsgID != id {
			report("Nats-Msg-Id %q, want the Twitch id %q", m.MsgID, id)
		}
		if e.Source.Platform != "twitch" || e.Source.Channel != s.Channel || e.User.Name != WantUser(s.N) || e.Payload.Text != WantText(s.N) {
			report("envelope %s: platform %q channel %q user %q text %q; want twitch %q %q %q",
				id, e.Source.Platform, e.Source.Channel, e.User.Name, e.Payload.Text, s.Channel, WantUser(s.N), WantText(s.N))
		}
		if e.Type != "external.chat.message.v1" || e.ID == "" {
			report("envelope %s: type %q id %q", id, e.Type, e.ID)
		}
	}
	for id, n := range seen {
		if n != 1 {
			report("message %s on the bus %d times", id, n)
		}
	}
	missing := 0
	for id := range sent {
		if seen[id] == 0 {
			missing++
			if missing <= 5 {
				report("message %s (%+v) not on the bus", id, sent[id])
			}
		}
	}
	if bad > 20 {
		t.Errorf("… %d problems in all (%d messages sent, %d read, %d missing)", bad, len(sent), len(msgs), missing)
	}
}
