#!/usr/bin/env bash
# Compares bus.Publisher over natsbus with raw nats.go loops (same window,
# same headers, ~1.1 KB envelopes) against an in-process nats-server, and
# publishing directly to JetStream with publishing through the durable
# outbox; prints benchstat tables: the msgs/s column's "vs base" is
# ours/raw, and outbox/direct.
# Targets: JetStream ≥ 85 % of raw, core ≥ 90 %, outbox ≥ 70 % of direct,
# outbox p99 receive → remote ack < 25 ms at 10,000 messages/s.
#   COUNT (default 10), BENCHTIME (default 50000x) override the run length;
#   FSYNC_BENCHTIME (default 2000x) that of the outbox fsyncing every write
#   (OUTBOX_SYNC=always, about a millisecond a message), LATENCY_BENCHTIME
#   (default 20000x: 2 s at 10,000/s) that of the latency runs.
set -euo pipefail
cd "$(dirname "$0")"
out=${OUT:-out}
mkdir -p "$out"
count=${COUNT:-10}
go test -run '^$' -bench 'BenchmarkBus(JetStream|Core)$' \
  -benchtime "${BENCHTIME:-50000x}" -count "$count" . | tee "$out/bus.txt"
go test -run '^$' -bench 'BenchmarkBusOutbox$/impl=(direct|outbox)$' \
  -benchtime "${BENCHTIME:-50000x}" -count "$count" . | tee "$out/outbox.txt"
go test -run '^$' -bench 'BenchmarkBusOutbox$/impl=outbox-fsync$' \
  -benchtime "${FSYNC_BENCHTIME:-2000x}" -count "$count" . | grep '^Benchmark' | tee -a "$out/outbox.txt"
go test -run '^$' -bench 'BenchmarkBusOutboxLatency' \
  -benchtime "${LATENCY_BENCHTIME:-20000x}" -count "$count" . | tee "$out/outbox-latency.txt"
for f in bus outbox outbox-latency; do
  go run golang.org/x/perf/cmd/benchstat@latest -col /impl "$out/$f.txt"
done
