package twitch

import (
	"sync"
	"time"
)

// dedup remembers recent message keys (the id tag) to drop a line that
// arrives on both connections while a RECONNECT overlaps them. It is bounded
// in count (the oldest key is forgotten first) and in time (a key is
// forgotten after the window). It is used only during an overlap, so the
// steady state pays nothing for it: its memory grows with the keys it
// holds, up to max, and reset gives it back. (Allocated up front, 64k
// entries cost 2.5 MiB per connection slot, 280 MiB at 10,000 channels.)
// Safe for concurrent use.
type dedup struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	seen   map[string]time.Time
	ring   []dedupEntry // insertion order, for eviction; grows to max
	head   int          // oldest entry
	n      int
}

type dedupEntry struct {
	key string
	at  time.Time
}

// dedupMinRing is the ring's first size.
const dedupMinRing = 256

func newDedup(max int, window time.Duration) *dedup {
	if max < 1 {
		max = 1
	}
	return &dedup{window: window, max: max}
}

// check reports whether key was seen within the window, and records it if
// it was not.
func (d *dedup) check(key []byte, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.n > 0 && now.Sub(d.ring[d.head].at) > d.window {
		d.evict()
	}
	if at, ok := d.seen[string(key)]; ok && now.Sub(at) <= d.window {
		return true
	}
	if d.n == len(d.ring) {
		if len(d.ring) < d.max {
			d.grow()
		} else {
			d.evict()
		}
	}
	if d.seen == nil {
		d.seen = make(map[string]time.Time)
	}
	k := string(key)
	d.seen[k] = now
	d.ring[(d.head+d.n)%len(d.ring)] = dedupEntry{k, now}
	d.n++
	return false
}

// grow doubles the ring (up to max), its entries in order from index 0.
func (d *dedup) grow() {
	ring := make([]dedupEntry, min(d.max, max(dedupMinRing, 2*len(d.ring))))
	for i := range d.n {
		ring[i] = d.ring[(d.head+i)%len(d.ring)]
	}
	d.ring, d.head = ring, 0
}

func (d *dedup) evict() {
	e := &d.ring[d.head]
	if at, ok := d.seen[e.key]; ok && at.Equal(e.at) {
		delete(d.seen, e.key)
	}
	*e = dedupEntry{}
	d.head = (d.head + 1) % len(d.ring)
	d.n--
}

// reset forgets every key and releases the memory that held them.
func (d *dedup) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen, d.ring = nil, nil
	d.head, d.n = 0, 0
}

// len returns the number of keys held.
func (d *dedup) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}
