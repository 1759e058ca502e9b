package twitchtest

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Gen describes a stream of PRIVMSGs for Generate.
type Gen struct {
	// Channels to send to, round robin (without '#').
	Channels []string
	// Rate in lines per second over all channels; 0 sends as fast as the
	// clients read.
	Rate float64
	// Count of lines to generate; 0 until ctx is done.
	Count int
	// OnSent, if set, is called for every line with its id and the number
	// of clients that got it (0 when nobody had joined the channel).
	OnSent func(id string, clients int)
}

// PrivmsgLine returns a PRIVMSG shaped like Twitch's, with a full tag set,
// message id id, in channel.
func PrivmsgLine(channel, id string, n int) string {
	return "@badge-info=subscriber/8;badges=subscriber/6,premium/1;client-nonce=" + id[:8] +
		";color=#1E90FF;display-name=Viewer" + strconv.Itoa(n%1000) +
		";emotes=;first-msg=0;flags=;id=" + id +
		";mod=0;returning-chatter=0;room-id=" + roomID(channel) +
		";subscriber=1;tmi-sent-ts=1700000000000;turbo=0;user-id=" + strconv.Itoa(100000+n%1000) +
		";user-type= :viewer" + strconv.Itoa(n%1000) + "!viewer" + strconv.Itoa(n%1000) + "@viewer" +
		strconv.Itoa(n%1000) + ".tmi.twitch.tv PRIVMSG #" + channel + " :message number " + strconv.Itoa(n) + " Kappa"
}

// MessageID returns the id of the nth generated message: a UUID-shaped
// string unique within the server.
func MessageID(n uint64) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(n>>48), n&(1<<48-1))
}

// Generate sends PRIVMSGs with unique ids to every client joined to each
// channel, at g.Rate, and returns how many it generated when g.Count is
// reached or ctx is done.
func (s *Server) Generate(ctx context.Context, g Gen) int {
	if len(g.Channels) == 0 {
		return 0
	}
	const tick = 10 * time.Millisecond
	start := time.Now()
	var t *time.Ticker
	if g.Rate > 0 {
		t = time.NewTicker(tick)
		defer t.Stop()
	}
	n := 0
	for g.Count == 0 || n < g.Count {
		want := n + 1000
		if t != nil {
			select {
			case <-ctx.Done():
				return n
			case now := <-t.C:
				want = int(now.Sub(start).Seconds() * g.Rate)
			}
		} else if ctx.Err() != nil {
			return n
		}
		if g.Count > 0 {
			want = min(want, g.Count)
		}
		for ; n < want; n++ {
			s.mu.Lock()
			s.nextMsg++
			num := s.nextMsg
			s.mu.Unlock()
			id := MessageID(num)
			ch := g.Channels[n%len(g.Channels)]
			got := s.Broadcast(ch, PrivmsgLine(ch, id, n))
			s.mu.Lock()
			s.stats.Privmsgs += got
			s.mu.Unlock()
			if g.OnSent != nil {
				g.OnSent(id, got)
			}
		}
	}
	return n
}
