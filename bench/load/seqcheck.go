package load

import (
	"slices"
	"sync"
	"time"

	"github.com/ingress-egress/ingress-egress/bench/loss"
)

// seqChecker is the loss checker of a run whose ids the sender made: line
// n's id is putID(prefix, n), so each line's record is a fixed-size slot
// at index n, without a string or a map entry per line. A 100,000-channel
// run sends 15 million lines; loss.Checker would hold them in maps of
// strings (≈ 300 B a line, and a garbage collector walking them), this
// holds 24 B a line without pointers. Its Result is loss.Checker's for the
// same records (a test compares them).
type seqChecker struct {
	prefix   uint32
	channels []string
	slack    time.Duration
	examples int

	mu       sync.Mutex
	chunks   [][]seqRec
	n        int              // slots in use: one more than the highest index seen
	received int              // envelopes, copies included
	empty    int              // envelopes without an id
	other    map[string]int32 // envelopes of ids not of this run's form
	gaps     []loss.Gap
}

// seqRec is one line: its send time and first receipt (Unix ns; first 0:
// none), its channel (an index into channels), whether it was sent and to
// a joined client, and how many envelopes carried it.
type seqRec struct {
	at, first int64
	ch        int32
	flags     uint8
	n         uint8 // saturates at 255
}

const (
	seqSent      = 1
	seqConnected = 2
	seqChunk     = 1 << 16
)

func newSeqChecker(prefix uint32, channels []string, slack time.Duration) *seqChecker {
	return &seqChecker{prefix: prefix, channels: channels, slack: slack, examples: 10, other: map[string]int32{}}
}

// slot returns line i's record, growing the chunks to hold it; mu is held.
func (c *seqChecker) slot(i int) *seqRec {
	for i/seqChunk >= len(c.chunks) {
		c.chunks = append(c.chunks, make([]seqRec, seqChunk))
	}
	c.n = max(c.n, i+1)
	return &c.chunks[i/seqChunk][i%seqChunk]
}

// sent records line n, sent to channel ch (an index into channels) at at.
func (c *seqChecker) sent(n uint64, ch int32, at time.Time, connected bool) {
	c.mu.Lock()
	r := c.slot(int(n))
	r.at, r.ch, r.flags = at.UnixNano(), ch, r.flags|seqSent
	if connected {
		r.flags |= seqConnected
	}
	c.mu.Unlock()
}

// parseID returns n of an id putID(prefix, n) wrote.
func (c *seqChecker) parseID(id string) (uint64, bool) {
	if len(id) != 36 || id[8:24] != "-0000-4000-8000-" {
		return 0, false
	}
	var p uint32
	for i := range 8 {
		v, ok := hexVal(id[i])
		if !ok {
			return 0, false
		}
		p = p<<4 | uint32(v)
	}
	if p != c.prefix {
		return 0, false
	}
	var n uint64
	for i := 24; i < 36; i++ {
		v, ok := hexVal(id[i])
		if !ok {
			return 0, false
		}
		n = n<<4 | uint64(v)
	}
	return n, n < 1<<40 // far beyond any run; bounds the slots a bad id can make
}

func hexVal(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	}
	return 0, false
}

// Received records one envelope read back.
func (c *seqChecker) Received(r loss.Received) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received++
	if r.MessageID == "" {
		c.empty++
		return
	}
	n, ok := c.parseID(r.MessageID)
	if !ok {
		c.other[r.MessageID]++
		return
	}
	s := c.slot(int(n))
	if s.n < 255 {
		s.n++
	}
	if at := r.At.UnixNano(); s.first == 0 || at < s.first {
		s.first = at
	}
}

// Gap records an interval the service reported.
func (c *seqChecker) Gap(g loss.Gap) {
	c.mu.Lock()
	c.gaps = append(c.gaps, g)
	c.mu.Unlock()
}

func (c *seqChecker) id(n int) string {
	b := make([]byte, 36)
	putID(b, c.prefix, uint64(n))
	return string(b)
}

func (c *seqChecker) covered(r *seqRec) bool {
	at := time.Unix(0, r.at)
	for _, g := range c.gaps {
		if g.Channel != "" && g.Channel != c.channels[r.ch] {
			continue
		}
		if !at.Before(g.From.Add(-c.slack)) && !at.After(g.To.Add(c.slack)) {
			return true
		}
	}
	return false
}

func (c *seqChecker) example(list []string, id string) []string {
	if len(list) >= c.examples {
		return list
	}
	return append(list, id)
}

// Result classifies every line, as loss.Checker.Result does.
func (c *seqChecker) Result() loss.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := loss.Result{Received: c.received, Unexpected: c.empty}
	var lat []time.Duration
	var unexpected []string
	for i := 0; i < c.n; i++ {
		r := &c.chunks[i/seqChunk][i%seqChunk]
		if r.flags&seqSent == 0 {
			if r.n > 0 {
				res.Unexpected += int(r.n)
				unexpected = append(unexpected, c.id(i))
			}
			continue
		}
		res.Sent++
		switch {
		case r.n == 1:
			res.Delivered++
		case r.n > 1:
			res.Duplicated++
			res.Copies += int(r.n) - 1
			res.DuplicatedIDs = c.example(res.DuplicatedIDs, c.id(i))
		case r.flags&seqConnected != 0:
			res.Lost++
			res.LostIDs = c.example(res.LostIDs, c.id(i))
		default:
			res.NotReceived++
			if !c.covered(r) {
				res.Unreported++
				res.UnreportedIDs = c.example(res.UnreportedIDs, c.id(i))
			}
		}
		if r.n > 0 {
			if lat == nil {
				lat = make([]time.Duration, 0, c.n)
			}
			lat = append(lat, time.Duration(r.first-r.at))
		}
	}
	for id, k := range c.other {
		res.Unexpected += int(k)
		unexpected = append(unexpected, id)
	}
	slices.Sort(unexpected)
	for _, id := range unexpected {
		res.UnexpectedIDs = c.example(res.UnexpectedIDs, id)
	}
	res.Latency = loss.Summarize(lat)
	return res
}
