// Package faults is the whole-service fault suite: the service binary
// (built by test/harness) runs against the recording fake Twitch server
// (twitch/twitchtest) and a real bus (nats-server as a process, its
// embedded bus, the Pub/Sub emulator) while one fault at a time is
// injected; a loss checker reads the bus back and classifies every line
// the fake server wrote to a joined connection of the service.
//
// The scenarios are the tests of this package (faults_test.go and the
// files beside it); this file holds the classifier, report.go the figures
// and the README table. `go test ./test/faults` runs the short versions
// (CI); bench/cmd/faults runs the long ones and rewrites the README table.
//
// # Classes
//
// Every line the fake server wrote (a twitchtest.Record: its id, channel,
// connection, place on that connection and time of the write) is, by the
// number n of envelopes on the bus with its id:
//
//	n == 1                                   delivered
//	n > 1                                    duplicated
//	n == 0, named by the shutdown report     named undelivered
//	n == 0, and the service read past it     lost while connected
//	n == 0, sent inside a reported gap       in a gap
//	n == 0, otherwise                        unreported
//
// The service read past a line when a later line written to the same
// connection (and to no other) reached the bus: it had the line and lost
// it. A reported gap is an interval the service reported for the line's
// channel: a gap (/_debug/twitch recentGaps and openGaps, the "gap closed"
// log, the gap a shutdown leaves from the last read of the connections it
// ended: "reading stopped at shutdown") or a stall (reading stopped while the bus held the reader back). A
// line is inside one when the interval holds the time the server wrote it,
// or when the interval lasts past that time and began by the time the
// service stopped reading the line's connection, give or take Notice: the
// earlier of when it read the last line it delivered from the connection
// before this one (or the connection's opening, if none) and when the
// connection ended. What was still in the socket's buffers when reading
// stopped is inside the gap; a gap stamped when the loss was noticed
// seconds later, after a stall or a silence, is not.
//
// A scenario that kills the service (SIGKILL) names a kill time: a line
// not received from the unread end of a connection that the kill ended is
// killed in flight, a loss the scenario bounds instead of forbidding.
package faults

import (
	"fmt"
	"slices"
	"time"

	"github.com/ingress-egress/ingress-egress/twitch/twitchtest"
)

// Received is one envelope read back from the bus.
type Received struct {
	ID     string    // payload.messageId
	Read   time.Time // the envelope's timestamp: when the service read the line
	Stored time.Time // when the bus stored it; zero if unknown
}

// Interval kinds.
const (
	KindGap   = "gap"
	KindStall = "stall"
)

// Interval is a time the service reported it was not reading a channel.
type Interval struct {
	Channel  string // "" for every channel
	From, To time.Time
	Kind     string // KindGap or KindStall
}

// Class is the verdict on one line.
type Class int

// The classes of the package doc.
const (
	Delivered Class = iota
	Duplicated
	LostConnected
	InGap
	Unreported
	KilledInFlight
	Excluded // not expected on the bus (bad input), counted apart
	Named    // not received, and named undelivered by the service's shutdown report
)

var classNames = [...]string{"delivered", "duplicated", "lost while connected", "in a gap", "unreported", "killed in flight", "excluded", "named undelivered"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Input is everything a check reads.
type Input struct {
	Sent      []twitchtest.Record     // from the fake server, in the order written
	Conns     []twitchtest.ConnRecord // from the fake server
	Received  []Received              // from the bus
	Intervals []Interval              // reported by the service
	// Exclude holds ids that are not expected on the bus (bad input);
	// they are counted apart, and their envelopes are not unexpected.
	Exclude map[string]bool
	// Killed, when set, is when the service was killed (SIGKILL): the
	// unread end of a connection ended by the kill is KilledInFlight.
	Killed time.Time
	// Named holds the ids the service named as undelivered (its shutdown
	// report): not received, they are Named, a loss it reported.
	Named map[string]bool
}

// Result counts lines (distinct ids) by class.
type Result struct {
	Sent           int // distinct ids written to a connection of the service
	Delivered      int
	Duplicated     int
	LostConnected  int
	InGap          int
	StallOnly      int // of InGap, covered only by a stall
	Unreported     int
	KilledInFlight int
	Named          int // not received and named undelivered
	Excluded       int
	ExcludedOnBus  int // excluded ids that reached the bus anyway
	Unexpected     int // envelopes whose id was never written
	UnexpectedIDs  []string
	Envelopes      int // envelopes read, copies included
	// Examples of the problem classes, a few lines each, described.
	Examples map[Class][]string
	// Classes of every id.
	Classes map[string]Class
}

// OK reports the suite's pass rule: nothing lost while connected, nothing
// unreported, no envelope of a line never sent.
func (r *Result) OK() bool { return r.LostConnected == 0 && r.Unreported == 0 && r.Unexpected == 0 }

// String is a one-line summary.
func (r *Result) String() string {
	return fmt.Sprintf("sent %d: delivered %d, duplicated %d, lost while connected %d, in a gap %d (stall only %d), unreported %d, killed in flight %d, named undelivered %d; excluded %d (%d on the bus); unexpected envelopes %d",
		r.Sent, r.Delivered, r.Duplicated, r.LostConnected, r.InGap, r.StallOnly, r.Unreported, r.KilledInFlight, r.Named, r.Excluded, r.ExcludedOnBus, r.Unexpected)
}

// receipt is what the bus holds of one id.
type receipt struct {
	n    int
	read time.Time // the earliest envelope time
}

// Notice is how long after reading stopped a reported gap may begin and
// still cover what was in flight: the time the service takes to see that
// a connection it reads has ended (a goroutine waking on a busy machine),
// plus the envelope time's millisecond precision. A service held back by
// its bus for seconds, or waiting out a keepalive, is far past it.
const Notice = 100 * time.Millisecond

// Check classifies every id of in.Sent.
func Check(in Input) Result {
	res := Result{Examples: map[Class][]string{}, Classes: map[string]Class{}, Envelopes: len(in.Received)}
	recv := make(map[string]*receipt, len(in.Received))
	for _, r := range in.Received {
		p := recv[r.ID]
		if p == nil {
			p = &receipt{read: r.Read}
			recv[r.ID] = p
		}
		p.n++
		if r.Read.Before(p.read) {
			p.read = r.Read
		}
	}
	// The records of each id, and how many connections got it.
	byID := map[string][]int{}
	var order []string
	for i, s := range in.Sent {
		if _, seen := byID[s.ID]; !seen {
			order = append(order, s.ID)
		}
		byID[s.ID] = append(byID[s.ID], i)
	}
	ended, opened := map[uint64]time.Time{}, map[uint64]time.Time{}
	for _, c := range in.Conns {
		opened[c.Client] = c.Opened
		if !c.Ended.IsZero() {
			ended[c.Client] = c.Ended
		}
	}
	// Per record: when the service stopped reading before it (it read the
	// last line it delivered from the connection before this one); per
	// connection: the last place read past (a delivered line sent to it
	// alone).
	stopped := make([]time.Time, len(in.Sent))
	lastRead := map[uint64]time.Time{}
	readPast := map[uint64]int{}
	for i, s := range in.Sent {
		if t, ok := lastRead[s.Client]; ok {
			stopped[i] = t
		} else {
			stopped[i] = opened[s.Client]
		}
		p := recv[s.ID]
		if p == nil {
			continue
		}
		lastRead[s.Client] = p.read
		if len(byID[s.ID]) == 1 && s.Seq+1 > readPast[s.Client] {
			readPast[s.Client] = s.Seq + 1 // places below are read past
		}
	}
	byChannel := map[string][]Interval{}
	for _, iv := range in.Intervals {
		byChannel[iv.Channel] = append(byChannel[iv.Channel], iv)
	}
	covered := func(s twitchtest.Record, stopped time.Time) (bool, bool) {
		if at, ok := ended[s.Client]; ok && (stopped.IsZero() || at.Before(stopped)) {
			stopped = at
		}
		gap, stall := false, false
		for _, ch := range []string{s.Channel, ""} {
			for _, iv := range byChannel[ch] {
				if s.At.After(iv.To.Add(time.Millisecond)) {
					continue
				}
				inside := !s.At.Before(iv.From.Add(-time.Millisecond))
				fromStop := !stopped.IsZero() && !iv.From.After(stopped.Add(Notice))
				if inside || fromStop {
					if iv.Kind == KindStall {
						stall = true
					} else {
						gap = true
					}
				}
			}
		}
		return gap, stall
	}
	describe := func(i int, why string) string {
		s := in.Sent[i]
		return fmt.Sprintf("%s #%s conn %d place %d written %s: %s", s.ID, s.Channel, s.Client, s.Seq, s.At.Format("15:04:05.000"), why)
	}
	add := func(c Class, id string, detail string) {
		res.Classes[id] = c
		if c != Delivered && c != Excluded && c != InGap && c != Named && len(res.Examples[c]) < 5 {
			res.Examples[c] = append(res.Examples[c], detail)
		}
	}
	for _, id := range order {
		recs := byID[id]
		p := recv[id]
		if in.Exclude[id] {
			res.Excluded++
			if p != nil {
				res.ExcludedOnBus++
			}
			add(Excluded, id, "")
			continue
		}
		res.Sent++
		switch {
		case p != nil && p.n == 1:
			res.Delivered++
			add(Delivered, id, "")
			continue
		case p != nil:
			res.Duplicated++
			add(Duplicated, id, describe(recs[0], fmt.Sprintf("%d envelopes", p.n)))
			continue
		case in.Named[id]:
			res.Named++
			add(Named, id, "")
			continue
		}
		class, detail := Unreported, ""
		inGap, stallOnly := false, false
		for _, i := range recs {
			s := in.Sent[i]
			if s.Seq < readPast[s.Client] {
				class, detail = LostConnected, describe(i, "a later line of the same connection reached the bus")
				break
			}
			gap, stall := covered(s, stopped[i])
			if gap || stall {
				inGap = true
				stallOnly = stall && !gap
			}
			if at, ok := ended[s.Client]; ok && !in.Killed.IsZero() && !at.Before(in.Killed) && class == Unreported {
				class, detail = KilledInFlight, describe(i, "unread when the service was killed")
			}
		}
		switch {
		case class == LostConnected:
			res.LostConnected++
		case inGap:
			class = InGap
			res.InGap++
			if stallOnly {
				res.StallOnly++
			}
		case class == KilledInFlight:
			res.KilledInFlight++
		default:
			res.Unreported++
			s := in.Sent[recs[0]]
			why := "in no reported gap; its connection is still open"
			if at, ok := ended[s.Client]; ok {
				why = "in no reported gap; its connection ended " + at.Format("15:04:05.000")
			}
			detail = describe(recs[0], why)
		}
		add(class, id, detail)
	}
	for id, p := range recv {
		if _, ok := byID[id]; !ok {
			res.Unexpected += p.n
			res.UnexpectedIDs = append(res.UnexpectedIDs, id)
		}
	}
	slices.Sort(res.UnexpectedIDs)
	if len(res.UnexpectedIDs) > 5 {
		res.UnexpectedIDs = res.UnexpectedIDs[:5]
	}
	return res
}

// GapSeconds returns the total length of the intervals of kind, merged per
// channel so that overlaps count once, averaged over the channels that
// have any.
func GapSeconds(ivs []Interval, kind string) float64 {
	by := map[string][]Interval{}
	for _, iv := range ivs {
		if iv.Kind == kind && iv.To.After(iv.From) {
			by[iv.Channel] = append(by[iv.Channel], iv)
		}
	}
	if len(by) == 0 {
		return 0
	}
	var total time.Duration
	for _, list := range by {
		slices.SortFunc(list, func(a, b Interval) int { return a.From.Compare(b.From) })
		cur := list[0]
		for _, iv := range list[1:] {
			if !iv.From.After(cur.To) {
				if iv.To.After(cur.To) {
					cur.To = iv.To
				}
				continue
			}
			total += cur.To.Sub(cur.From)
			cur = iv
		}
		total += cur.To.Sub(cur.From)
	}
	return total.Seconds() / float64(len(by))
}
