package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ingress-egress/ingress-egress/internal/natstest"
)

// TestTakeJoinsGatedReader runs three instances on one account whose
// readers take their own JOINs (GatedReader): the coordinators hand the
// channels over without taking from the budget, and the readers' own
// takes — here twelve goroutines, four per instance, standing for their
// connections and their rejoins — never get more than the budget in any
// window between them, while JOINs are granted. (Which instance wins a
// free place is not fair: the one with the shortest way to the bucket's
// leader wins more compare-and-set races.)
func TestTakeJoinsGatedReader(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	chans := testChannels(30)
	const rate, window = 20, time.Second
	w := newWorld(t, nc, Options{
		Replicas: 1, LeaseTTL: 2 * time.Second, Seed: chans,
		Account: "bot", GatedReader: true, JoinRate: rate, JoinWindow: window,
		JoinMargin: window / 2,
	}, chans)
	nodes := []*node{w.start("a"), w.start("b"), w.start("c")}
	w.waitStable(chans, 60*time.Second)
	for _, n := range nodes {
		if s := n.c.Stats(); s.Budget == nil || s.Budget.Taken != 0 {
			t.Errorf("%s: the coordinator took JOINs from the budget for a reader that takes its own: %+v", n.id, s.Budget)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*window)
	defer cancel()
	var mu sync.Mutex
	var grants []time.Time
	per := map[string]int{}
	var wg sync.WaitGroup
	for _, n := range nodes {
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					k, err := n.c.TakeJoins(ctx, "Bot", 3)
					now := time.Now()
					if err != nil {
						if ctx.Err() == nil {
							t.Errorf("%s: TakeJoins: %v", n.id, err)
						}
						return
					}
					if k < 1 || k > 3 {
						t.Errorf("%s: TakeJoins granted %d of 3", n.id, k)
					}
					mu.Lock()
					for range k {
						grants = append(grants, now)
					}
					per[n.id] += k
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	got := maxInWindow(grants, window)
	t.Logf("12 takers on 3 instances for %v: %d JOINs granted, at most %d in any %v (budget %d); by instance %v", 4*window, len(grants), got, window, rate, per)
	if got > rate {
		t.Errorf("%d JOINs granted in one window, budget %d", got, rate)
	}
	if len(grants) < 2*rate {
		t.Errorf("%d JOINs granted in %v with a budget of %d per %v", len(grants), 4*window, rate, window)
	}
}

// TakeJoins without an account fails at once; before the buckets are set
// up it waits, and gives up when its context ends.
func TestTakeJoinsWaits(t *testing.T) {
	c, err := New(nil, &fakeReader{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TakeJoins(context.Background(), "bot", 1); !errors.Is(err, ErrNoBudget) {
		t.Errorf("TakeJoins without an account: %v, want ErrNoBudget", err)
	}
	c, err = New(nil, &fakeReader{}, Options{Account: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if n, err := c.TakeJoins(ctx, "bot", 1); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("TakeJoins before setup: %d, %v; want 0 and the context's error", n, err)
	}
}
