package main

import (
	"io"
	"runtime"
	"runtime/metrics"
	"strconv"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/server"
)

// metrics writes the Prometheus exposition from the components' snapshots.
// Nothing here sits on the per-line path: every value is read at scrape
// time.
func (svc *service) metrics(w io.Writer) {
	m := server.NewMetricWriter(w)
	ts := svc.mgr.Status()
	bs := svc.pub.Stats()
	as := svc.auth.Status()
	ic := svc.ingest.counters()

	byCmd := map[string]uint64{}
	byReason := map[string]uint64{}
	var lines, parseErrs, oversized, reconnects, gaps, dedup, joins, joinRetries, authAttempts, loginFailures uint64
	var handlerWait, stallSeconds float64
	var stalls uint64
	connected := 0
	for _, c := range ts.Connections {
		k := c.Counters
		lines += k.Lines
		for cmd, n := range k.ByCommand {
			byCmd[cmd] += n
		}
		for r, n := range c.ReconnectsByReason {
			byReason[r] += n
		}
		parseErrs += k.ParseErrors
		oversized += k.Oversized
		reconnects += k.Reconnects
		gaps += k.Gaps
		dedup += k.DedupHits
		joins += k.Joins
		joinRetries += k.JoinRetries
		authAttempts += k.AuthAttempts
		loginFailures += k.LoginFailures
		handlerWait += k.HandlerWaitSeconds
		stalls += k.Stalls
		stallSeconds += k.StallSeconds
		if c.State == "connected" || c.State == "joined" || c.State == "ready" {
			connected++
		}
	}
	m.Counter("ingress_lines_received_total", "Lines received from Twitch.", float64(lines))
	m.CounterMap("ingress_lines_received_by_command_total", "Lines received from Twitch, by IRC command.", "command", byCmd)
	m.Counter("ingress_parse_errors_total", "Lines that did not parse (kept raw in the debug counters, never a crash).", float64(parseErrs))
	m.Counter("ingress_oversized_lines_total", "Lines over IRC_MAX_LINE, discarded.", float64(oversized))
	m.Counter("ingress_reconnects_total", "Reconnects of chat connections.", float64(reconnects))
	m.CounterMap("ingress_reconnects_by_reason_total", "Reconnects of chat connections, by the kind of failure that ended the previous session.", "reason", byReason)
	m.Counter("ingress_gaps_total", "Intervals during which a wanted channel was not joined on a live connection.", float64(gaps))
	m.Counter("ingress_gap_seconds_total", "Total length of closed gaps.", ts.GapSeconds)
	m.Gauge("ingress_gaps_open", "Channels not covered by a live joined connection now.", float64(len(ts.OpenGaps)))
	m.Counter("ingress_dedup_hits_total", "Duplicate lines dropped during RECONNECT overlaps.", float64(dedup))
	m.Counter("ingress_joins_total", "JOINs sent.", float64(joins))
	m.Counter("ingress_join_retries_total", "JOINs sent again after no confirmation.", float64(joinRetries))
	m.Counter("ingress_auth_attempts_total", "Chat login attempts.", float64(authAttempts))
	m.Counter("ingress_login_failures_total", "Chat logins refused by the server.", float64(loginFailures))
	m.Counter("ingress_handler_wait_seconds_total", "Time readers spent handing lines on, bus backpressure included.", handlerWait)
	m.Counter("ingress_read_stalls_total", "Handler calls that stopped a reader for 2 s or longer (bus backpressure).", float64(stalls))
	m.Counter("ingress_read_stall_seconds_total", "Time readers stood still in such calls, running ones included.", stallSeconds)
	m.Gauge("ingress_connections_stalled", "Chat connections not being read now because the bus holds the reader back.", float64(ts.Stalled))
	m.Gauge("ingress_connections", "Pooled chat connections.", float64(len(ts.Connections)))
	m.Gauge("ingress_connections_connected", "Chat connections that are up.", float64(connected))
	m.Gauge("ingress_channels_wanted", "Channels wanted.", float64(ts.Wanted))
	m.Gauge("ingress_channels_joined", "Wanted channels joined on a live connection.", float64(ts.Joined))
	m.Gauge("ingress_channels_failed", "Channels that failed (banned, suspended, parted).", float64(len(ts.Failed)))

	m.Counter("ingress_envelopes_total", "Envelopes handed to the publisher.", float64(ic.Envelopes))
	m.Counter("ingress_lines_not_published_total", "Lines of kinds that are not published (PING, JOIN, kinds switched off).", float64(ic.NotEnabled))
	m.Counter("ingress_lines_without_envelope_total", "Lines of a published kind that yielded no envelope (no channel, no text).", float64(ic.NoEnvelope))
	m.Counter("ingress_publish_refused_total", "Envelopes the publisher refused (closed, too large).", float64(ic.PublishErrs))

	m.Counter("ingress_bus_accepted_total", "Messages the publisher accepted.", float64(bs.Accepted))
	m.Counter("ingress_bus_published_total", "Messages acknowledged by the bus.", float64(bs.Acked))
	m.Counter("ingress_bus_failure_events_total", "Messages that ended as a failure event on the finalize subject.", float64(bs.FailureEvents))
	m.Counter("ingress_bus_lost_total", "Messages given up, never acknowledged: not sent, or refused by the bus (each id logged).", float64(bs.Lost))
	m.Counter("ingress_bus_unknown_total", "Messages given up after they were sent without an answer: the bus may have stored them (each id logged).", float64(bs.Unknown))
	m.Counter("ingress_bus_retries_total", "Re-sends after a retryable failure.", float64(bs.Retries))
	m.Counter("ingress_bus_unavailable_total", "Sends refused because the bus was down.", float64(bs.Unavailable))
	m.Counter("ingress_bus_permanent_errors_total", "Sends failed with a permanent error.", float64(bs.Permanent))
	m.Counter("ingress_bus_batches_total", "Batches sent.", float64(bs.Batches))
	m.Counter("ingress_backpressure_waits_total", "Publish calls that waited for room in the queue.", float64(bs.Blocked))
	m.Counter("ingress_backpressure_wait_seconds_total", "Time Publish calls waited for room in the queue.", bs.BackpressureWait.Seconds())
	m.Gauge("ingress_bus_queue_depth", "Messages held in the publisher's queue.", float64(bs.Queued))
	m.Gauge("ingress_bus_queue_bytes", "Bytes held in the publisher's queue.", float64(bs.QueuedBytes))
	m.Gauge("ingress_bus_pending", "Messages accepted and not yet settled.", float64(bs.Pending))
	m.Gauge("ingress_bus_oldest_pending_seconds", "Age of the oldest message not yet settled.", bs.OldestPending.Seconds())
	m.Gauge("ingress_bus_stalled_seconds", "Time messages have been pending without one settling, once past the stall bound (10 s); 0 otherwise.", bs.Stalled.Seconds())
	m.Gauge("ingress_bus_ready", "1 when the publisher reaches the bus.", b2f(bs.Ready))
	m.Histogram("ingress_receive_to_ack_seconds", "Time from reading a line to the bus acknowledging its envelope (with the outbox: to the outbox storing it).",
		bus.AckLatencyBuckets[:], bs.AckLatency.Counts[:], bs.AckLatency.Count, bs.AckLatency.Sum)
	if svc.outbox != nil {
		svc.outboxMetrics(m)
	}

	m.Gauge("ingress_credentials_ready", "1 when chat credentials are known and valid.", b2f(as.Ready), server.Label{Name: "mode", Value: string(as.Mode)})
	m.Counter("ingress_token_validations_total", "Token validations against Twitch, by outcome.", float64(as.Validations), server.Label{Name: "outcome", Value: "ok"})
	m.Counter("ingress_token_validations_total", "Token validations against Twitch, by outcome.", float64(as.ValidationFailures), server.Label{Name: "outcome", Value: "failed"})
	m.Counter("ingress_token_refreshes_total", "Token refreshes, by outcome.", float64(as.Refreshes), server.Label{Name: "outcome", Value: "ok"})
	m.Counter("ingress_token_refreshes_total", "Token refreshes, by outcome.", float64(as.RefreshFailures), server.Label{Name: "outcome", Value: "failed"})
	if !as.ExpiresAt.IsZero() {
		m.Gauge("ingress_credentials_expiry_timestamp_seconds", "When the access token expires.", float64(as.ExpiresAt.Unix()))
	}
	if svc.coord != nil {
		svc.clusterMetrics(m)
	}
	writeRuntimeMetrics(m)
	b := currentBuild()
	m.Gauge("ingress_build_info", "Build information: version, VCS revision, its time and dirty flag, Go release.", 1,
		server.Label{Name: "version", Value: b.Version}, server.Label{Name: "revision", Value: b.Revision},
		server.Label{Name: "vcs_time", Value: b.Time}, server.Label{Name: "modified", Value: strconv.FormatBool(b.Modified)},
		server.Label{Name: "go", Value: goVersion()})
}

// outboxMetrics writes the durable outbox's figures.
func (svc *service) outboxMetrics(m *server.MetricWriter) {
	ob := svc.outbox.Stats()
	m.Gauge("ingress_outbox_messages", "Messages stored in the outbox and not yet forwarded to the remote bus.", float64(ob.Messages))
	m.Gauge("ingress_outbox_bytes", "Bytes stored in the outbox, as the store counts them.", float64(ob.Bytes))
	m.Gauge("ingress_outbox_max_bytes", "The outbox's bound (OUTBOX_MAX_BYTES, after the cap on a tmpfs); when reached the reader waits.", float64(ob.MaxBytes))
	m.Gauge("ingress_outbox_oldest_age_seconds", "Age of the oldest message in the outbox.", ob.OldestAge.Seconds())
	m.Gauge("ingress_outbox_remote_up", "1 when the remote bus takes messages, 0 while the outbox holds them back (remote down or failing).", b2f(ob.Remote == "ok"))
	m.Counter("ingress_outbox_stored_total", "Messages stored in the outbox.", float64(ob.Stored))
	m.Counter("ingress_outbox_forwarded_total", "Messages forwarded from the outbox and acknowledged by the remote bus.", float64(ob.Forwarded))
	m.Counter("ingress_outbox_retries_total", "Re-sends from the outbox to the remote bus after a failure.", float64(ob.Retries))
	m.Counter("ingress_outbox_unavailable_total", "Sends from the outbox refused because the remote bus was down.", float64(ob.Unavailable))
	m.Counter("ingress_outbox_failure_events_total", "Messages the remote bus refused for good, forwarded as failure events.", float64(ob.FailureEvents))
	m.Counter("ingress_outbox_lost_total", "Messages whose failure event was refused too: logged and counted.", float64(ob.Lost))
	m.Counter("ingress_outbox_full_waits_total", "Stores that waited for room in a full outbox.", float64(ob.FullWaits))
	m.Counter("ingress_outbox_full_wait_seconds_total", "Time stores waited for room in a full outbox.", ob.FullWait.Seconds())
	m.Counter("ingress_outbox_recovered_total", "Messages found in the outbox at start.", float64(ob.Recovered))
	m.Counter("ingress_outbox_recovery_lost_records_total", "Records (stored batches of messages) the outbox's store lost in its recovery at start (a torn or damaged write).", float64(ob.RecoveryLostRecords))
	m.Histogram("ingress_receive_to_forward_seconds", "Time from reading a line to the remote bus acknowledging it through the outbox.",
		bus.AckLatencyBuckets[:], ob.ForwardLatency.Counts[:], ob.ForwardLatency.Count, ob.ForwardLatency.Sum)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func goVersion() string { return runtime.Version() }

// runtimeSamples are the Go runtime's own figures exported with the
// service's: heap, allocation and GC, for memory and per-line cost.
var runtimeSamples = []struct{ name, metric, help, typ string }{
	{"go_heap_live_bytes", "/gc/heap/live:bytes", "Heap memory occupied by live objects after the last GC.", "gauge"},
	{"go_memory_total_bytes", "/memory/classes/total:bytes", "All memory mapped by the Go runtime.", "gauge"},
	{"go_heap_allocs_bytes_total", "/gc/heap/allocs:bytes", "Bytes allocated on the heap.", "counter"},
	{"go_heap_allocs_objects_total", "/gc/heap/allocs:objects", "Objects allocated on the heap.", "counter"},
	{"go_gc_cycles_total", "/gc/cycles/total:gc-cycles", "Completed GC cycles.", "counter"},
	{"go_goroutines", "/sched/goroutines:goroutines", "Live goroutines.", "gauge"},
}

func writeRuntimeMetrics(m *server.MetricWriter) {
	samples := make([]metrics.Sample, len(runtimeSamples))
	for i, r := range runtimeSamples {
		samples[i].Name = r.metric
	}
	metrics.Read(samples)
	for i, r := range runtimeSamples {
		var v float64
		switch samples[i].Value.Kind() {
		case metrics.KindUint64:
			v = float64(samples[i].Value.Uint64())
		case metrics.KindFloat64:
			v = samples[i].Value.Float64()
		default:
			continue // not supported by this Go version
		}
		if r.typ == "counter" {
			m.Counter(r.name, r.help, v)
		} else {
			m.Gauge(r.name, r.help, v)
		}
	}
}
