#!/usr/bin/env bash
# Compares bus.Publisher over natsbus with raw nats.go loops (same window,
# same headers, ~1.1 KB envelopes) against an in-process nats-server, and
# prints a benchstat table: the msgs/s column's "vs base" is ours/raw.
# Targets: JetStream ≥ 85 % of raw, core ≥ 90 %.
#   COUNT (default 10), BENCHTIME (default 50000x) override the run length.
set -euo pipefail
cd "$(dirname "$0")"
out=${OUT:-out}
mkdir -p "$out"
go test -run '^$' -bench 'BenchmarkBus' -benchtime "${BENCHTIME:-50000x}" -count "${COUNT:-10}" . | tee "$out/bus.txt"
go run golang.org/x/perf/cmd/benchstat@latest -col /impl "$out/bus.txt"
