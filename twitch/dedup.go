package twitch

import (
	"sync"
	"time"
)

// dedup remembers recent message keys (the id tag) to drop a line that
// arrives on both connections while a RECONNECT overlaps them. It is bounded
// in count (the oldest key is forgotten first) and in time (a key is
// forgotten after the window). It is used only during an overlap, so the
// steady state pays nothing for it. Safe for concurrent use.
type dedup struct {
	mu     sync.Mutex
	window time.Duration
	seen   map[string]time.Time
	ring   []dedupEntry // insertion order, for eviction
	head   int          // oldest entry
	n      int
}

type dedupEntry struct {
	key string
	at  time.Time
}

func newDedup(max int, window time.Duration) *dedup {
	if max < 1 {
		max = 1
	}
	return &dedup{window: window, seen: make(map[string]time.Time), ring: make([]dedupEntry, max)}
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
		d.evict()
	}
	k := string(key)
	d.seen[k] = now
	d.ring[(d.head+d.n)%len(d.ring)] = dedupEntry{k, now}
	d.n++
	return false
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

// reset forgets every key.
func (d *dedup) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.seen)
	clear(d.ring)
	d.head, d.n = 0, 0
}

// len returns the number of keys held.
func (d *dedup) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}
