// Package loss classifies every chat line a load run sent, in the style of
// Jepsen's checkers: each id the fake Twitch server wrote is either delivered
// once, duplicated, lost, or not received, and the checker says which.
//
// The inputs come from three independent witnesses:
//
//   - the fake server, which records every line it wrote ([Sent]): its id,
//     channel, send time, and whether a session of the service under test was
//     joined to that channel on a live connection when the line was written;
//   - the consumer, which records every envelope read back from the bus
//     ([Received]): its payload.messageId and the time it was read;
//   - the service, which reports the intervals during which it was not
//     receiving a channel ([Gap]), e.g. from a disconnect to the rejoin.
//
// The classification of one sent id, with n the number of envelopes read back
// for it:
//
//	n == 1                          Delivered
//	n > 1                           Duplicated
//	n == 0 and Connected            Lost         (the service was there to read it; the bus never had it)
//	n == 0 and not Connected        NotReceived  (a gap; it must lie inside a reported Gap)
//
// A NotReceived id whose send time lies inside no reported gap of its channel
// (widened by [Options.Slack] on each side) is an unreported gap: the service
// missed lines without saying so. Envelopes whose messageId the server never
// sent are Unexpected. A run is correct ([Result.OK]) when nothing is Lost,
// Duplicated, Unexpected, or in an unreported gap.
//
// Latency is measured for every id read back at least once, from its send
// time to the first receipt, and summarised as nearest-rank percentiles.
package loss

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"
)

// Sent is one line the fake server wrote.
type Sent struct {
	// ID is the line's Twitch message id (its `id` tag); the envelope carries
	// it as payload.messageId.
	ID string `json:"id"`
	// Channel is the channel login the line was sent to, without '#'.
	Channel string `json:"channel"`
	// At is when the fake server wrote the line.
	At time.Time `json:"at"`
	// Connected reports whether, when the line was written, the service had a
	// live connection joined to Channel, so that the line reached its socket.
	Connected bool `json:"connected"`
}

// Received is one envelope read back from the bus.
type Received struct {
	// MessageID is the envelope's payload.messageId.
	MessageID string `json:"messageId"`
	// At is when the consumer read the envelope.
	At time.Time `json:"at"`
}

// Gap is an interval, reported by the service, during which it was not
// receiving a channel (From and To inclusive).
type Gap struct {
	// Channel is the channel login without '#'; "" means every channel.
	Channel string    `json:"channel"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
}

// Class is the verdict for one sent id.
type Class uint8

// The classes, in the order of the table in the package doc.
const (
	Delivered Class = iota
	Duplicated
	Lost
	NotReceived
)

// String returns the class name used in reports.
func (c Class) String() string {
	switch c {
	case Delivered:
		return "delivered"
	case Duplicated:
		return "duplicated"
	case Lost:
		return "lost"
	case NotReceived:
		return "not-received"
	}
	return "unknown"
}

// Options tunes a check. The zero value is usable.
type Options struct {
	// Slack widens every reported gap by this much on each side when deciding
	// whether a NotReceived id was covered by a gap, to absorb the time the
	// service takes to notice a disconnect. Default 0 (exact).
	Slack time.Duration
	// Examples is how many example ids each problem list keeps. Default 10;
	// negative keeps none.
	Examples int
}

// Latency summarises send → first receipt durations.
type Latency struct {
	N    int           `json:"n"`
	Min  time.Duration `json:"min"`
	P50  time.Duration `json:"p50"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p999"`
	Max  time.Duration `json:"max"`
	Mean time.Duration `json:"mean"`
}

// Result is the outcome of a check. Counts cover every id; the example lists
// keep at most Options.Examples ids each.
type Result struct {
	Sent        int `json:"sent"`
	Received    int `json:"received"` // envelopes read back, copies included
	Delivered   int `json:"delivered"`
	Duplicated  int `json:"duplicated"`
	Lost        int `json:"lost"`
	NotReceived int `json:"notReceived"`
	// Copies is the number of surplus envelopes: Σ (n−1) over Duplicated ids.
	Copies int `json:"copies"`
	// Unexpected counts envelopes whose messageId was never sent (or empty).
	Unexpected int `json:"unexpected"`
	// Unreported counts NotReceived ids that lie in no reported gap.
	Unreported int `json:"unreported"`
	// SentTwice counts ids the fake server recorded more than once (a
	// harness bug; only the first record is used).
	SentTwice int `json:"sentTwice"`

	Latency Latency `json:"latency"`

	LostIDs       []string `json:"lostIds,omitempty"`
	DuplicatedIDs []string `json:"duplicatedIds,omitempty"`
	UnexpectedIDs []string `json:"unexpectedIds,omitempty"`
	UnreportedIDs []string `json:"unreportedIds,omitempty"`
}

// OK reports whether the run was correct: nothing lost, duplicated,
// unexpected, or missed without a reported gap.
func (r *Result) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Unexpected == 0 && r.Unreported == 0 && r.SentTwice == 0
}

// Input is everything a check needs, for [Check].
type Input struct {
	Sent     []Sent
	Received []Received
	Gaps     []Gap
}

// Check classifies in and returns the result.
func Check(in Input, opts Options) Result {
	c := NewChecker(opts)
	for _, s := range in.Sent {
		c.Sent(s)
	}
	for _, r := range in.Received {
		c.Received(r)
	}
	for _, g := range in.Gaps {
		c.Gap(g)
	}
	return c.Result()
}

// Checker accumulates the three witnesses' records in any order and from any
// goroutine (its methods are safe for concurrent use), so that a long run can
// feed it as it goes instead of keeping every record. Memory grows with the
// number of distinct ids.
type Checker struct {
	opts Options

	mu        sync.Mutex
	sent      []Sent
	sentIndex map[string]int32
	sentTwice int
	recv      map[string]*receipt
	received  int
	empty     int
	gaps      []Gap
}

type receipt struct {
	n     int32
	first time.Time
}

// NewChecker returns an empty checker.
func NewChecker(opts Options) *Checker {
	if opts.Examples == 0 {
		opts.Examples = 10
	}
	return &Checker{
		opts:      opts,
		sentIndex: make(map[string]int32),
		recv:      make(map[string]*receipt),
	}
}

// Sent records one line the fake server wrote.
func (c *Checker) Sent(s Sent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.sentIndex[s.ID]; dup {
		c.sentTwice++
		return
	}
	c.sentIndex[s.ID] = int32(len(c.sent))
	c.sent = append(c.sent, s)
}

// Received records one envelope read back from the bus.
func (c *Checker) Received(r Received) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received++
	if r.MessageID == "" {
		c.empty++
		return
	}
	if p := c.recv[r.MessageID]; p != nil {
		p.n++
		if r.At.Before(p.first) {
			p.first = r.At
		}
		return
	}
	c.recv[r.MessageID] = &receipt{n: 1, first: r.At}
}

// Gap records one interval the service reported.
func (c *Checker) Gap(g Gap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gaps = append(c.gaps, g)
}

// Classify returns the verdict for one sent id, and false if the id was never
// sent.
func (c *Checker) Classify(id string) (Class, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.sentIndex[id]
	if !ok {
		return 0, false
	}
	return c.classify(c.sent[i]), true
}

func (c *Checker) classify(s Sent) Class {
	p := c.recv[s.ID]
	switch {
	case p != nil && p.n == 1:
		return Delivered
	case p != nil:
		return Duplicated
	case s.Connected:
		return Lost
	}
	return NotReceived
}

// covered reports whether a reported gap of s's channel contains s.At.
func (c *Checker) covered(s Sent) bool {
	for _, g := range c.gaps {
		if g.Channel != "" && g.Channel != s.Channel {
			continue
		}
		if !s.At.Before(g.From.Add(-c.opts.Slack)) && !s.At.After(g.To.Add(c.opts.Slack)) {
			return true
		}
	}
	return false
}

// Result classifies every id recorded so far. It may be called more than once.
func (c *Checker) Result() Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Result{
		Sent:       len(c.sent),
		Received:   c.received,
		SentTwice:  c.sentTwice,
		Unexpected: c.empty,
	}
	lat := make([]time.Duration, 0, len(c.recv))
	for _, s := range c.sent {
		switch c.classify(s) {
		case Delivered:
			r.Delivered++
		case Duplicated:
			r.Duplicated++
			r.Copies += int(c.recv[s.ID].n) - 1
			r.DuplicatedIDs = c.example(r.DuplicatedIDs, s.ID)
		case Lost:
			r.Lost++
			r.LostIDs = c.example(r.LostIDs, s.ID)
		case NotReceived:
			r.NotReceived++
			if !c.covered(s) {
				r.Unreported++
				r.UnreportedIDs = c.example(r.UnreportedIDs, s.ID)
			}
		}
		if p := c.recv[s.ID]; p != nil {
			lat = append(lat, p.first.Sub(s.At))
		}
	}
	// Envelopes for ids never sent, in a stable order for the examples.
	var unexpected []string
	for id, p := range c.recv {
		if _, ok := c.sentIndex[id]; !ok {
			r.Unexpected += int(p.n)
			unexpected = append(unexpected, id)
		}
	}
	slices.Sort(unexpected)
	for _, id := range unexpected {
		r.UnexpectedIDs = c.example(r.UnexpectedIDs, id)
	}
	r.Latency = Summarize(lat)
	return r
}

func (c *Checker) example(list []string, id string) []string {
	if len(list) >= c.opts.Examples {
		return list
	}
	return append(list, id)
}

// Summarize returns the latency summary of d, which it sorts in place.
// Percentiles use the nearest-rank method: Pq is the smallest value such that
// at least q of the values are ≤ it, i.e. d[ceil(q·N)−1]. The zero Latency is
// returned for no values.
func Summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.SortFunc(d, cmp.Compare)
	var sum float64
	for _, v := range d {
		sum += float64(v)
	}
	return Latency{
		N:    len(d),
		Min:  d[0],
		P50:  Percentile(d, 0.50),
		P99:  Percentile(d, 0.99),
		P999: Percentile(d, 0.999),
		Max:  d[len(d)-1],
		Mean: time.Duration(sum / float64(len(d))),
	}
}

// Percentile returns the nearest-rank q-quantile (0 < q ≤ 1) of sorted, or 0
// when sorted is empty.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
