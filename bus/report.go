package bus

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// Undelivered names a message that was accepted and neither acknowledged
// nor published as a failure event.
type Undelivered struct {
	Subject  string
	MsgID    string
	Age      time.Duration
	Attempts int // sends of the message
	LastErr  string
	// Unknown is true when the message was sent and no answer came (an
	// acknowledgement timed out, the connection dropped after the write,
	// or it was in flight when Close gave up): the bus may have stored
	// it. False means lost: it never reached the bus, or the bus refused
	// it.
	Unknown bool
}

// Report is what Close returns: the final counters and every message it
// could not deliver (counted in Stats.Lost or Stats.Unknown, and logged
// with Log).
type Report struct {
	Stats       Stats
	Undelivered []Undelivered
}

// Limits of one log entry of undelivered ids: Cloud Logging refuses
// entries over 256 KB, and an entry well under it stays readable.
const (
	maxIDsPerEntry   = 1000
	maxIDBytesEntry  = 60 << 10
	maxIDBytes       = 128 // a longer id is cut (Twitch ids are 36 bytes)
	maxErrBytesEntry = 256
)

// Log writes the report's undelivered messages to log, at error level,
// with errorCode "undelivered_at_shutdown": one summary entry (how many
// lost, how many unknown, how many without an id), then every id, grouped
// by outcome and subject, in entries of at most 1,000 ids and 60 KiB of
// ids each. Every entry is logged with a context marked by WithoutRateLimit,
// so that a rate-limiting handler passes all of them. Nothing is written
// when every message was delivered.
func (r Report) Log(log *slog.Logger) {
	logUndelivered(log, "bus: messages not delivered at shutdown", "undelivered_at_shutdown", r.Undelivered)
}

type rateLimitExemptKey struct{}

// WithoutRateLimit returns ctx marked so that a log handler that limits
// repeated records passes every record logged with it. The publisher marks
// the entries that name undelivered messages: each names different ids,
// and none may be dropped. See RateLimitExempt.
func WithoutRateLimit(ctx context.Context) context.Context {
	return context.WithValue(ctx, rateLimitExemptKey{}, true)
}

// RateLimitExempt reports whether ctx was marked by WithoutRateLimit. A
// rate-limiting slog.Handler calls it in Handle and passes the record
// untouched when it is true.
func RateLimitExempt(ctx context.Context) bool {
	v, _ := ctx.Value(rateLimitExemptKey{}).(bool)
	return v
}

// logUndelivered writes us as a summary entry named msg and bounded entries
// of ids (see Report.Log).
func logUndelivered(log *slog.Logger, msg, errorCode string, us []Undelivered) {
	if len(us) == 0 || log == nil {
		return
	}
	ctx := WithoutRateLimit(context.Background())
	type group struct {
		unknown bool
		subject string
	}
	var order []group
	byGroup := map[group][]*Undelivered{}
	lost, unknown, noID := 0, 0, 0
	for i := range us {
		u := &us[i]
		if u.Unknown {
			unknown++
		} else {
			lost++
		}
		if u.MsgID == "" {
			noID++
		}
		g := group{u.Unknown, u.Subject}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], u)
	}
	// Lost first, then unknown; each in the order of acceptance.
	slices.SortStableFunc(order, func(a, b group) int {
		switch {
		case a.unknown == b.unknown:
			return 0
		case !a.unknown:
			return -1
		}
		return 1
	})

	type entry struct {
		g       group
		ids     []string
		lastErr string
	}
	var entries []entry
	for _, g := range order {
		var e *entry
		size := 0
		for _, u := range byGroup[g] {
			if u.MsgID == "" {
				continue // counted in withoutId: there is no id to name
			}
			id := u.MsgID
			if len(id) > maxIDBytes {
				id = id[:maxIDBytes] + "…"
			}
			if e == nil || len(e.ids) == maxIDsPerEntry || size+len(id)+3 > maxIDBytesEntry {
				entries = append(entries, entry{g: g})
				e = &entries[len(entries)-1]
				size = 0
			}
			if e.lastErr == "" && u.LastErr != "" {
				e.lastErr = u.LastErr
				if len(e.lastErr) > maxErrBytesEntry {
					e.lastErr = e.lastErr[:maxErrBytesEntry]
				}
			}
			e.ids = append(e.ids, id)
			size += len(id) + 3 // quotes and comma in JSON
		}
	}

	log.LogAttrs(ctx, slog.LevelError, msg,
		slog.Int("count", len(us)), slog.Int("lost", lost), slog.Int("unknown", unknown),
		slog.Int("withoutId", noID), slog.Int("idEntries", len(entries)),
		slog.String("errorCode", errorCode))
	for i, e := range entries {
		outcome := "lost"
		if e.g.unknown {
			outcome = "unknown"
		}
		log.LogAttrs(ctx, slog.LevelError, "bus: undelivered message ids",
			slog.String("outcome", outcome), slog.String("subject", e.g.subject),
			slog.Int("entry", i+1), slog.Int("entries", len(entries)),
			slog.Int("count", len(e.ids)), slog.Any("msgIds", e.ids),
			slog.String("error", e.lastErr), slog.String("errorCode", errorCode))
	}
}

// Report returns what Close would report if it gave up now, without
// settling anything: the messages given up so far, and every message still
// held, as unknown when it was sent and is unanswered (in flight, or its
// acknowledgement timed out) and as lost otherwise. It is for a process
// that exits without waiting any longer for Close (its shutdown deadline
// passed while the driver held on): logging it names every message left
// behind. Safe for concurrent use, during Close included.
func (p *Publisher) Report() Report {
	st := p.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	r := Report{Stats: st, Undelivered: slices.Clone(p.lost)}
	now := time.Now()
	for seq := p.headSeq; seq < p.tailSeq; seq++ {
		s := p.slot(seq)
		if s.settled {
			continue
		}
		inFlight := seq < p.nextSeq && !p.retryingLocked(seq)
		r.Undelivered = append(r.Undelivered, undelivered(s, s.lastErr, now, inFlight))
	}
	return r
}

// retryingLocked reports whether seq waits for a re-send.
func (p *Publisher) retryingLocked(seq uint64) bool {
	_, ok := slices.BinarySearch(p.retry, seq)
	return ok
}

// undelivered describes s given up with err; inFlight says it was sent and
// its answer is still awaited.
func undelivered(s *slot, err error, now time.Time, inFlight bool) Undelivered {
	u := Undelivered{
		Subject: s.msg.Subject, MsgID: s.msg.MsgID,
		Age: now.Sub(s.enqAt), Attempts: s.sends,
		Unknown: inFlight || s.unanswered || IsNoAnswer(err),
	}
	if err != nil {
		u.LastErr = err.Error()
	}
	return u
}
