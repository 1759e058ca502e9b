package twitch

import (
	"context"
	"sync"
	"time"
)

// window is a sliding-window rate limiter: it allows at most n events in
// any interval of length period, which is what Twitch enforces ("20 JOINs
// per 10 seconds"); a token bucket with a burst of n would allow 2n in a
// window that straddles a refill. It keeps the times of the last n events in
// a ring that grows to n as events come, so that a large n (a verified
// bot's JOIN rate, one window per anonymous connection) costs memory only
// when used. Safe for concurrent use.
type window struct {
	mu     sync.Mutex
	period time.Duration
	n      int
	times  []time.Time // ring of the last len(times) event times
	next   int         // index of the oldest entry
	count  int         // entries in use
}

// windowMinRing is the ring's first size.
const windowMinRing = 32

// newWindow returns a limiter of n events per period. The period is
// lengthened by a twentieth so that network jitter between the sender and
// the server's clock cannot make two events look closer than they were.
func newWindow(n int, period time.Duration) *window {
	if n < 1 {
		n = 1
	}
	return &window{period: period + period/20, n: n, times: make([]time.Time, min(n, windowMinRing))}
}

// grow doubles the ring, up to n entries, oldest first.
func (w *window) grow() {
	t := make([]time.Time, min(2*len(w.times), w.n))
	for i := range w.count {
		t[i] = w.times[(w.next+i)%len(w.times)]
	}
	w.times, w.next = t, 0
}

// take records up to k events at now and returns how many it recorded and,
// when that is fewer than k, how long until the next one is allowed.
func (w *window) take(now time.Time, k int) (taken int, retry time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for taken < k {
		if w.count == len(w.times) && len(w.times) < w.n {
			w.grow()
		}
		n := len(w.times)
		if w.count < n {
			w.times[(w.next+w.count)%n] = now
			w.count++
			taken++
			continue
		}
		oldest := w.times[w.next]
		if d := oldest.Add(w.period).Sub(now); d > 0 {
			return taken, d
		}
		w.times[w.next] = now
		w.next = (w.next + 1) % n
		taken++
	}
	return taken, 0
}

// wait blocks until one event is allowed and records it.
func (w *window) wait(ctx context.Context) error {
	for {
		taken, retry := w.take(time.Now(), 1)
		if taken == 1 {
			return nil
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
