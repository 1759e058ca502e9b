package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Budget is a JOIN budget shared, through a key-value bucket, by every
// instance that logs in to Twitch as one account: Twitch allows an account
// 20 JOINs per 10 s, however many connections and processes send them.
//
// The key holds the times of the account's most recent JOINs, from every
// instance. Take reads it, drops the times older than Window+Margin by its
// own clock, and when fewer than Rate remain appends one time per JOIN it
// takes and writes the key back with compare-and-set on the revision it
// read; a concurrent taker's write makes the set fail and Take starts over.
// The writes are thus serialised by the bucket: no two instances can take
// the same free place, and any interval of Window+Margin holds at most Rate
// recorded times, whatever the membership does meanwhile (instances that
// start, stop or crash holding times change nothing: times only age out).
//
// A recorded time is not exactly when Twitch sees the JOIN: the clocks of
// two instances differ, and the JOIN leaves after the set returns (a round
// trip, then the reader's own queue). Margin absorbs both: while the clock
// offset plus that delay stays below it (hosts kept by NTP are within a few
// milliseconds; the default Margin is Window/20, 500 ms), no real Window
// holds more than Rate JOINs. When the bucket cannot be reached Take fails
// and nothing is joined: the budget fails closed.
//
// Safe for concurrent use.
type Budget struct {
	kv     jetstream.KeyValue
	key    string
	rate   int
	span   time.Duration // Window + Margin
	now    func() time.Time
	taken  atomic.Uint64
	waits  atomic.Uint64
	clashs atomic.Uint64
}

// BudgetStats counts what a Budget did.
type BudgetStats struct {
	Taken     uint64 `json:"taken"`     // JOINs granted
	Waits     uint64 `json:"waits"`     // times Take waited for the window to move
	Conflicts uint64 `json:"conflicts"` // writes lost to another instance's, and retried
}

// budgetKey is the key of login's budget.
func budgetKey(login string) string { return "account." + sanitizeKey(strings.ToLower(login)) }

func newBudget(kv jetstream.KeyValue, login string, rate int, window, margin time.Duration) *Budget {
	return &Budget{kv: kv, key: budgetKey(login), rate: max(rate, 1), span: window + margin, now: time.Now}
}

// Stats returns the counters.
func (b *Budget) Stats() BudgetStats {
	return BudgetStats{Taken: b.taken.Load(), Waits: b.waits.Load(), Conflicts: b.clashs.Load()}
}

// Take waits until at least one JOIN is allowed and takes up to k of them;
// it returns how many it took (1..k), or an error if ctx ends or the bucket
// cannot be read or written.
func (b *Budget) Take(ctx context.Context, k int) (int, error) {
	if k <= 0 {
		return 0, nil
	}
	for {
		var rev uint64
		var times []int64
		e, err := withTimeout(ctx, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return b.kv.Get(ctx, b.key) })
		switch {
		case err == nil:
			rev = e.Revision()
			times = parseTimes(e.Value())
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			return 0, fmt.Errorf("cluster: join budget: %w", err)
		}
		now := b.now().UnixNano()
		cut := now - int64(b.span)
		times = slices.DeleteFunc(times, func(t int64) bool { return t <= cut })
		free := b.rate - len(times)
		if free <= 0 {
			// The oldest time leaves the window first.
			b.waits.Add(1)
			wait := time.Duration(slices.Min(times)-cut) + time.Millisecond
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, ctx.Err()
			case <-t.C:
			}
			continue
		}
		n := min(k, free)
		for range n {
			times = append(times, now)
		}
		val := formatTimes(times)
		_, err = withTimeout(ctx, func(ctx context.Context) (uint64, error) {
			if rev == 0 {
				return b.kv.Create(ctx, b.key, val)
			}
			return b.kv.Update(ctx, b.key, val, rev)
		})
		switch {
		case err == nil:
			b.taken.Add(uint64(n))
			return n, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			// Another instance wrote first: read again, after a short
			// random pause so that the losers do not collide again.
			b.clashs.Add(1)
			t := time.NewTimer(time.Duration(rand.Int64N(int64(5 * time.Millisecond))))
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, ctx.Err()
			case <-t.C:
			}
		default:
			return 0, fmt.Errorf("cluster: join budget: %w", err)
		}
	}
}

// opTimeout bounds one request to the buckets: a request sent while the
// stream changes leader can go unanswered.
const opTimeout = 2 * time.Second

// withTimeout calls f with ctx bounded by opTimeout.
func withTimeout[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return f(ctx)
}

// formatTimes encodes unix-nanosecond times as decimal numbers separated by
// spaces (readable with `nats kv get`).
func formatTimes(ts []int64) []byte {
	b := make([]byte, 0, 20*len(ts))
	for i, t := range ts {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, t, 10)
	}
	return b
}

// parseTimes decodes formatTimes; what does not parse is dropped (a value
// written by hand can only make the budget more generous by what it
// lacks).
func parseTimes(b []byte) []int64 {
	var out []int64
	for f := range strings.FieldsSeq(string(b)) {
		if t, err := strconv.ParseInt(f, 10, 64); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// sanitizeKey maps s to a single key token: letters, digits, '_' and '-';
// anything else becomes '-'.
func sanitizeKey(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// ErrNoBudget is returned by TakeJoins when the coordinator keeps no
// shared JOIN budget (Options.Account is empty).
var ErrNoBudget = errors.New("cluster: no shared JOIN budget (no account configured)")

// TakeJoins waits until at least one JOIN of login is allowed by the
// account's budget, shared by every instance of the cluster, and takes up
// to n of them: it returns how many it took (1..n), or an error when ctx
// ends or the bucket cannot be reached (nothing may be joined then: the
// budget fails closed). It waits for the buckets to be set up. It is a
// twitch.JoinGate: the reader calls it before every JOIN it sends as the
// account (Options.GatedReader), and sends what it was granted at once.
// The callers of one instance take their turns.
func (c *Coordinator) TakeJoins(ctx context.Context, login string, n int) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	if c.o.Account == "" {
		return 0, ErrNoBudget
	}
	select {
	case <-c.setupDone:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	b := c.budgetFor(login)
	select {
	case c.takeSem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-c.takeSem }()
	return b.Take(ctx, n)
}

// budgetFor returns login's budget: the Account's, or one made at first
// use for another login (an account whose credentials name another login
// than the one configured).
func (c *Coordinator) budgetFor(login string) *Budget {
	if login == "" || budgetKey(login) == c.budget.key {
		return c.budget
	}
	key := budgetKey(login)
	c.budgetsMu.Lock()
	defer c.budgetsMu.Unlock()
	b := c.budgets[key]
	if b == nil {
		b = newBudget(c.joins, login, c.o.JoinRate, c.o.JoinWindow, c.o.JoinMargin)
		c.budgets[key] = b
	}
	return b
}
