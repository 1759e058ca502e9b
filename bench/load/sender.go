package load

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/corpus"
	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// template is one realistic PRIVMSG (internal/corpus) with the offsets of
// the fields the sender rewrites for every line: the 36-byte id tag, the
// 13-digit tmi-sent-ts and the 19-digit +ie/sent-ns.
type template struct {
	line               []byte
	channel            string
	ch                 int32 // channel's index in the run's list
	idAt, tsAt, sentAt int
}

// makeTemplates makes per templates for each channel (at least one).
func makeTemplates(seed int64, channels []string, per int) ([]template, error) {
	g := corpus.NewGenerator(seed)
	ts := make([]template, 0, len(channels)*per)
	sent := time.Unix(1_800_000_000, 123456789) // 19 digits in ns, 13 in ms
	for range per {
		for i, ch := range channels {
			line := g.AppendPrivmsg(nil, ch, sent)
			t := template{line: line, channel: ch, ch: int32(i),
				idAt: field(line, ";id="), tsAt: field(line, ";tmi-sent-ts="), sentAt: field(line, ";"+corpus.SentTag+"=")}
			if t.idAt < 0 || t.tsAt < 0 || t.sentAt < 0 || t.idAt+36 > len(line) ||
				!bytes.HasPrefix(line[t.sentAt:], []byte(strconv.FormatInt(sent.UnixNano(), 10))) {
				return nil, fmt.Errorf("load: cannot find the id and time tags in %q", line)
			}
			ts = append(ts, t)
		}
	}
	return ts, nil
}

// field returns the offset of the value of tag key (given with its leading
// ';' and trailing '='), or -1.
func field(line []byte, key string) int {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return -1
	}
	return i + len(key)
}

const hexDigits = "0123456789abcdef"

// putID writes a UUID-shaped id made of the run's prefix and n into dst[:36]:
// pppppppp-0000-4000-8000-nnnnnnnnnnnn.
func putID(dst []byte, prefix uint32, n uint64) {
	copy(dst, "00000000-0000-4000-8000-000000000000")
	for i := 7; i >= 0; i-- {
		dst[i] = hexDigits[prefix&15]
		prefix >>= 4
	}
	for i := 35; i >= 24; i-- {
		dst[i] = hexDigits[n&15]
		n >>= 4
	}
}

// putDigits writes v as exactly len(dst) decimal digits.
func putDigits(dst []byte, v int64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

// sender writes PRIVMSGs with unique ids to the fake server's clients, at
// a rate, and records every line in the loss checker. It finds a line's
// clients through the server's channel index (one map lookup), so that
// 100,000 channels over a thousand connections cost no more per line than
// ten.
type sender struct {
	srv       *twitchtest.Server
	templates []template
	prefix    uint32
	check     *seqChecker

	sent      atomic.Int64 // lines written
	connected atomic.Int64 // of which to a joined client
	slab      []byte
	clients   []*twitchtest.Client // scratch for ChannelClients
}

// line builds line n from its template into the slab (lines stay valid
// until the server has written them: the slab is never reused, only
// dropped) and returns it with its id.
func (s *sender) line(n uint64, now time.Time) (line []byte, t *template) {
	t = &s.templates[n%uint64(len(s.templates))]
	if cap(s.slab)-len(s.slab) < len(t.line) {
		s.slab = make([]byte, 0, max(1<<20, len(t.line)))
	}
	start := len(s.slab)
	s.slab = append(s.slab, t.line...)
	line = s.slab[start:len(s.slab):len(s.slab)]
	putID(line[t.idAt:], s.prefix, n)
	ns := now.UnixNano()
	putDigits(line[t.tsAt:t.tsAt+13], ns/1e6)
	putDigits(line[t.sentAt:t.sentAt+19], ns)
	return line, t
}

// send writes one line to every client joined to its channel.
func (s *sender) send(n uint64) {
	now := time.Now()
	line, t := s.line(n, now)
	s.clients = s.srv.ChannelClients(t.channel, s.clients[:0])
	ok := false
	for _, c := range s.clients {
		if c.InChannel(t.channel) { // it may have closed since the lookup
			c.SendRaw(line)
			ok = true
		}
	}
	s.sent.Add(1)
	if ok {
		s.connected.Add(1)
	}
	s.check.sent(n, t.ch, now, ok)
}

// run sends at rate lines per second (0: as fast as the clients take them)
// until ctx is done or count lines were sent (count 0: no count). It paces
// with a 1 ms tick and catches up after a stall, so that the rate over the
// run is the rate asked for unless the clients push back.
func (s *sender) run(ctx context.Context, rate float64, count int64) {
	start := time.Now()
	var n uint64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil && (count == 0 || int64(n) < count) {
		want := n + 256
		if rate > 0 {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				want = uint64(now.Sub(start).Seconds() * rate)
			}
		}
		if count > 0 {
			want = min(want, uint64(count))
		}
		for ; n < want && ctx.Err() == nil; n++ {
			s.send(n)
		}
	}
}
