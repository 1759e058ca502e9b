package bus

import (
	"encoding/json"
	"time"
)

// MarshalJSON writes Stats for /_debug in the service's JSON style:
// camelCase keys, durations in seconds, and the latency histogram with
// its bucket bounds beside the counts.
func (s Stats) MarshalJSON() ([]byte, error) {
	type bucket struct {
		LE    float64 `json:"le"`
		Count uint64  `json:"count"` // in this bucket only, not cumulative
	}
	type histogram struct {
		Count      uint64   `json:"count"`
		SumSeconds float64  `json:"sumSeconds"`
		Buckets    []bucket `json:"buckets"`
	}
	buckets := make([]bucket, len(AckLatencyBuckets))
	for i, ub := range AckLatencyBuckets {
		buckets[i] = bucket{ub, s.AckLatency.Counts[i]}
	}
	var lastErrAt, stalledSince *time.Time
	if !s.LastErrorAt.IsZero() {
		lastErrAt = &s.LastErrorAt
	}
	if !s.StalledSince.IsZero() {
		stalledSince = &s.StalledSince
	}
	return json.Marshal(struct {
		Ready                   bool       `json:"ready"`
		Queued                  int        `json:"queued"`
		QueuedBytes             int64      `json:"queuedBytes"`
		RetainedBytes           int64      `json:"retainedBytes"`
		Pending                 int        `json:"pending"`
		OldestPendingSeconds    float64    `json:"oldestPendingSeconds"`
		StalledSeconds          float64    `json:"stalledSeconds"`
		StalledSince            *time.Time `json:"stalledSince,omitempty"`
		Accepted                uint64     `json:"accepted"`
		Acked                   uint64     `json:"acked"`
		FailureEvents           uint64     `json:"failureEvents"`
		Lost                    uint64     `json:"lost"`
		Unknown                 uint64     `json:"unknown"`
		Retries                 uint64     `json:"retries"`
		Unavailable             uint64     `json:"unavailable"`
		Permanent               uint64     `json:"permanent"`
		Batches                 uint64     `json:"batches"`
		Blocked                 uint64     `json:"blocked"`
		BackpressureWaitSeconds float64    `json:"backpressureWaitSeconds"`
		LastError               string     `json:"lastError,omitempty"`
		LastErrorAt             *time.Time `json:"lastErrorAt,omitempty"`
		AckLatency              histogram  `json:"receiveToAckSeconds"`
	}{
		Ready: s.Ready, Queued: s.Queued, QueuedBytes: s.QueuedBytes, RetainedBytes: s.RetainedBytes,
		Pending: s.Pending, OldestPendingSeconds: s.OldestPending.Seconds(),
		StalledSeconds: s.Stalled.Seconds(), StalledSince: stalledSince,
		Accepted: s.Accepted, Acked: s.Acked, FailureEvents: s.FailureEvents, Lost: s.Lost, Unknown: s.Unknown,
		Retries: s.Retries, Unavailable: s.Unavailable, Permanent: s.Permanent, Batches: s.Batches,
		Blocked: s.Blocked, BackpressureWaitSeconds: s.BackpressureWait.Seconds(),
		LastError: s.LastError, LastErrorAt: lastErrAt,
		AckLatency: histogram{s.AckLatency.Count, s.AckLatency.Sum, buckets},
	})
}
