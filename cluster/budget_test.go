package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingress-egress/ingress-egress/internal/natstest"
)

func TestTimesRoundTrip(t *testing.T) {
	ts := []int64{1, 1700000000000000000, -5}
	if got := parseTimes(formatTimes(ts)); len(got) != 3 || got[0] != 1 || got[1] != ts[1] || got[2] != -5 {
		t.Errorf("parseTimes(formatTimes(%v)) = %v", ts, got)
	}
	if got := parseTimes([]byte("12 x 13")); len(got) != 2 {
		t.Errorf("parseTimes with a bad field = %v, want the two numbers", got)
	}
}

// TestBudgetShared takes JOINs from three Budgets on one key concurrently:
// together they never take more than the rate in any window.
func TestBudgetShared(t *testing.T) {
	nc := natstest.StartCluster(t, 3)
	js, _ := jetstream.New(nc.Connect())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "budget_test", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	const rate, window, total = 10, 500 * time.Millisecond, 45
	var mu sync.Mutex
	var ts []time.Time
	var wg sync.WaitGroup
	var budgets []*Budget
	for range 3 {
		js, _ := jetstream.New(nc.Connect())
		kv, err := js.KeyValue(ctx, "budget_test")
		if err != nil {
			t.Fatal(err)
		}
		b := newBudget(kv, "Bot", rate, window, 250*time.Millisecond)
		budgets = append(budgets, b)
		wg.Go(func() {
			for {
				mu.Lock()
				done := len(ts) >= total
				mu.Unlock()
				if done {
					return
				}
				n, err := b.Take(ctx, 3)
				if err != nil {
					t.Error(err)
					return
				}
				now := time.Now()
				mu.Lock()
				for range n {
					ts = append(ts, now)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := maxInWindow(ts, window); got > rate {
		t.Errorf("%d JOINs in one %v window, rate %d", got, window, rate)
	}
	var st BudgetStats
	for _, b := range budgets {
		s := b.Stats()
		st.Taken += s.Taken
		st.Waits += s.Waits
		st.Conflicts += s.Conflicts
	}
	t.Logf("3 takers: %+v", st)
	if st.Taken != uint64(len(ts)) {
		t.Errorf("Taken %d, want %d", st.Taken, len(ts))
	}
	// The key is the account's, lowercased.
	if _, err := kv.Get(ctx, "account.bot"); err != nil {
		t.Errorf("budget key: %v", err)
	}
}

func TestDuplicateWindow(t *testing.T) {
	nc := natstest.StartCluster(t, 1)
	js, _ := jetstream.New(nc.Connect())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "INGRESS", Subjects: []string{"internal.>"}, Duplicates: 90 * time.Second}); err != nil {
		t.Fatal(err)
	}
	name, d, err := DuplicateWindow(ctx, js, "internal.ingress.v1")
	if err != nil || name != "INGRESS" || d != 90*time.Second {
		t.Errorf("DuplicateWindow = %q, %v, %v; want INGRESS, 1m30s", name, d, err)
	}
	if _, _, err := DuplicateWindow(ctx, js, "elsewhere.x"); err == nil {
		t.Error("DuplicateWindow of a subject no stream stores: no error")
	}
}
