package twitch

import (
	"math/rand/v2"
	"time"
)

// jitterBackoff computes reconnect delays: capped exponential with full jitter
// and a floor. Attempt k (from 0) waits a uniformly random time in
// [initial/2, min(max, initial·2^k)], so there is never a tight loop, and
// many clients that lost the same server spread out. Not safe for
// concurrent use.
type jitterBackoff struct {
	initial, max time.Duration
	attempt      int
	rand         func(n int64) int64 // [0, n); rand.Int64N by default
}

func newJitterBackoff(initial, max time.Duration) *jitterBackoff {
	if max < initial {
		max = initial
	}
	return &jitterBackoff{initial: initial, max: max, rand: rand.Int64N}
}

// ceiling returns the upper bound of attempt k's delay.
func (b *jitterBackoff) ceiling(k int) time.Duration {
	c := b.initial
	for i := 0; i < k && c < b.max; i++ {
		c *= 2
	}
	return min(c, b.max)
}

// next returns the delay before the next attempt and counts the attempt.
func (b *jitterBackoff) next() time.Duration {
	floor := b.initial / 2
	ceil := b.ceiling(b.attempt)
	if b.attempt < 62 {
		b.attempt++
	}
	if ceil <= floor {
		return floor
	}
	return floor + time.Duration(b.rand(int64(ceil-floor)+1))
}

// reset starts over from the initial delay; called once a connection has
// stayed healthy for a while.
func (b *jitterBackoff) reset() { b.attempt = 0 }
