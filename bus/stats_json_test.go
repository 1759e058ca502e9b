package bus

import (
	"encoding/json"
	"testing"
	"time"
)

func TestStatsJSON(t *testing.T) {
	var s Stats
	s.Ready = true
	s.Acked = 7
	s.OldestPending = 1500 * time.Millisecond
	s.BackpressureWait = 250 * time.Millisecond
	s.Stalled = 12 * time.Second
	s.StalledSince = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s.AckLatency.observe(0.002)
	s.AckLatency.observe(0.002)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["ready"] != true || got["acked"] != 7.0 || got["oldestPendingSeconds"] != 1.5 || got["backpressureWaitSeconds"] != 0.25 ||
		got["stalledSeconds"] != 12.0 || got["stalledSince"] != "2025-01-02T03:04:05Z" {
		t.Errorf("stats JSON %s", b)
	}
	if _, ok := got["lastErrorAt"]; ok {
		t.Errorf("zero lastErrorAt written: %s", b)
	}
	h := got["receiveToAckSeconds"].(map[string]any)
	buckets := h["buckets"].([]any)
	if h["count"] != 2.0 || len(buckets) != len(AckLatencyBuckets) {
		t.Fatalf("histogram %v", h)
	}
	b2 := buckets[2].(map[string]any) // le 0.0025
	if b2["le"] != 0.0025 || b2["count"] != 2.0 {
		t.Errorf("bucket 2 = %v, want le 0.0025 count 2", b2)
	}
}
