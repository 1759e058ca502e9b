package twitch

import (
	"fmt"
	"testing"
	"time"
)

func TestDedup(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	d := newDedup(1000, time.Minute)
	if len(d.ring) != 0 || d.seen != nil {
		t.Fatal("a new dedup holds memory")
	}
	key := func(i int) []byte { return fmt.Appendf(nil, "id-%d", i) }
	// Growing keeps every key and the order of eviction.
	for i := range 700 {
		if d.check(key(i), t0) {
			t.Fatalf("key %d seen before it was added", i)
		}
	}
	if d.len() != 700 || len(d.ring) != 1000 {
		t.Fatalf("len %d ring %d, want 700 and 1000 (grown to max)", d.len(), len(d.ring))
	}
	for i := range 700 {
		if !d.check(key(i), t0.Add(time.Second)) {
			t.Fatalf("key %d forgotten after growing", i)
		}
	}
	// At max, the oldest go first.
	for i := 700; i < 1300; i++ {
		d.check(key(i), t0.Add(2*time.Second))
	}
	if d.len() != 1000 {
		t.Fatalf("len %d, want 1000", d.len())
	}
	// In this order: a key not seen is added, and evicts the oldest.
	for _, c := range []struct {
		i    int
		want bool
	}{{1299, true}, {300, true}, {0, false}, {299, false}} {
		if got := d.check(key(c.i), t0.Add(3*time.Second)); got != c.want {
			t.Errorf("key %d seen = %v, want %v", c.i, got, c.want)
		}
	}
	// The window forgets by time.
	if d.check(key(1299), t0.Add(2*time.Minute+3*time.Second)) {
		t.Error("key 1299 seen after the window")
	}
	// reset gives the memory back.
	d.reset()
	if d.len() != 0 || d.ring != nil || d.seen != nil {
		t.Errorf("after reset: len %d ring %d map %v", d.len(), len(d.ring), d.seen != nil)
	}
	if d.check(key(1), t0) || !d.check(key(1), t0) {
		t.Error("dedup does not work after reset")
	}
	// A tiny max.
	d1 := newDedup(1, time.Minute)
	d1.check(key(1), t0)
	d1.check(key(2), t0)
	if d1.check(key(1), t0) || d1.len() != 1 {
		t.Error("max 1: the older key is still held")
	}
}
