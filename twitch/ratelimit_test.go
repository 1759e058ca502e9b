package twitch

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestWindowNeverOverLimit drives windows of several sizes (some past the
// ring's first size, so that it grows) with random demands and checks the
// recorded events against the definition: never more than n in any
// interval of the (margined) period, and a refusal only when n events are
// inside the period.
func TestWindowNeverOverLimit(t *testing.T) {
	for _, n := range []int{1, 20, windowMinRing, windowMinRing + 1, 150} {
		r := rand.New(rand.NewPCG(uint64(n), 1))
		w := newWindow(n, 10*time.Second)
		now := time.Unix(1_000_000, 0)
		var events []time.Time
		for range 2000 {
			now = now.Add(time.Duration(r.IntN(400)) * time.Millisecond)
			want := 1 + r.IntN(5)
			taken, retry := w.take(now, want)
			for range taken {
				events = append(events, now)
			}
			inPeriod := 0
			for _, e := range events {
				if now.Sub(e) < w.period {
					inPeriod++
				}
			}
			if inPeriod > n {
				t.Fatalf("n=%d: %d events within %v", n, inPeriod, w.period)
			}
			if taken < want {
				if inPeriod != n {
					t.Fatalf("n=%d: refused with %d events in the period", n, inPeriod)
				}
				oldest := events[len(events)-n]
				if got := oldest.Add(w.period).Sub(now); retry != got {
					t.Fatalf("n=%d: retry %v, want %v", n, retry, got)
				}
			}
		}
		if len(w.times) > n {
			t.Errorf("n=%d: ring of %d", n, len(w.times))
		}
	}
	// A large limit costs only what is used.
	if w := newWindow(100000, 10*time.Second); len(w.times) != windowMinRing {
		t.Errorf("a fresh window of 100,000 holds a ring of %d", len(w.times))
	}
}
