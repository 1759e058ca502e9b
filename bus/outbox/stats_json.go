package outbox

import (
	"encoding/json"
	"time"

	"github.com/ingress-egress/ingress-egress/bus"
)

// MarshalJSON writes Stats for /_debug in the service's JSON style:
// camelCase keys, durations in seconds, and the latency histogram with its
// bucket bounds beside the counts.
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
	buckets := make([]bucket, len(bus.AckLatencyBuckets))
	for i, ub := range bus.AckLatencyBuckets {
		buckets[i] = bucket{ub, s.ForwardLatency.Counts[i]}
	}
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	var degraded float64
	if !s.DegradedSince.IsZero() {
		degraded = time.Since(s.DegradedSince).Seconds()
	}
	return json.Marshal(struct {
		Ready               bool       `json:"ready"`
		Remote              string     `json:"remote"`
		RemoteReady         bool       `json:"remoteReady"`
		Messages            uint64     `json:"messages"`
		Bytes               uint64     `json:"bytes"`
		MaxBytes            int64      `json:"maxBytes"`
		OldestAgeSeconds    float64    `json:"oldestAgeSeconds"`
		Stored              uint64     `json:"stored"`
		Forwarded           uint64     `json:"forwarded"`
		FailureEvents       uint64     `json:"failureEvents"`
		Lost                uint64     `json:"lost"`
		Retries             uint64     `json:"retries"`
		Unavailable         uint64     `json:"unavailable"`
		FullWaits           uint64     `json:"fullWaits"`
		FullWaitSeconds     float64    `json:"fullWaitSeconds"`
		DegradedSince       *time.Time `json:"degradedSince,omitempty"`
		DegradedSeconds     float64    `json:"degradedSeconds,omitempty"`
		LastError           string     `json:"lastError,omitempty"`
		LastErrorAt         *time.Time `json:"lastErrorAt,omitempty"`
		Recovered           uint64     `json:"recovered"`
		RecoveryLostRecords uint64     `json:"recoveryLostRecords"`
		RecoveryLostBytes   uint64     `json:"recoveryLostBytes"`
		ForwardLatency      histogram  `json:"receiveToForwardSeconds"`
	}{
		Ready: s.Ready, Remote: s.Remote, RemoteReady: s.RemoteReady,
		Messages: s.Messages, Bytes: s.Bytes, MaxBytes: s.MaxBytes, OldestAgeSeconds: s.OldestAge.Seconds(),
		Stored: s.Stored, Forwarded: s.Forwarded, FailureEvents: s.FailureEvents, Lost: s.Lost,
		Retries: s.Retries, Unavailable: s.Unavailable, FullWaits: s.FullWaits, FullWaitSeconds: s.FullWait.Seconds(),
		DegradedSince: at(s.DegradedSince), DegradedSeconds: degraded,
		LastError: s.LastError, LastErrorAt: at(s.LastErrorAt),
		Recovered: s.Recovered, RecoveryLostRecords: s.RecoveryLostRecords, RecoveryLostBytes: s.RecoveryLostBytes,
		ForwardLatency: histogram{s.ForwardLatency.Count, s.ForwardLatency.Sum, buckets},
	})
}
