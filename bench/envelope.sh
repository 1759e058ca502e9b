#!/usr/bin/env bash
# envelope.sh: compare envelope.Encoder.Append with what a Go user would write
# with encoding/json: the same envelope struct built from the same parsed line
# (google/uuid ids) and json.Marshal'ed (BenchmarkEnvelope; Marshal alone of
# prebuilt structs is printed for the record), and the whole per-line hot path
# (framer, parse, model, envelope) with the peer pipeline of go-twitch-irc plus
# encoding/json (BenchmarkHotPath), over the committed Twitch corpus; print the
# benchstat table and the ratios of the medians. Exits 1 when
# the envelope target is missed: encoding-json/ours >= 7 and peer/ours >= 8, ours at
# 0 allocs/op in both.
#
# As parse.sh does, it takes COUNT interleaved rounds of one sample each (the
# test binary built once), so that a change of load on a shared machine hits
# both sides of a ratio alike.
#
# Environment: COUNT (default 10), BENCHTIME (default 1s; 5 benchmarks x COUNT
# x BENCHTIME is about the run time), OUT (default ./out, where the raw output
# is kept as envelope.txt).
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-10}
benchtime=${BENCHTIME:-1s}
out=${OUT:-out}
mkdir -p "$out"
raw="$out/envelope.txt"

go test -c -o "$out/bench.test" .
: >"$raw"
for ((round = 1; round <= count; round++)); do
	"$out/bench.test" -test.run '^$' -test.bench '^(BenchmarkEnvelope|BenchmarkHotPath)$' -test.benchtime "$benchtime" -test.count 1 |
		if ((round == 1)); then cat; else grep '^Benchmark'; fi | tee -a "$raw"
done
echo
go run golang.org/x/perf/cmd/benchstat@latest "$raw" || echo "(benchstat unavailable; raw samples in $raw)"
echo
awk '
/^Benchmark(Envelope|HotPath)\// {
	name = $1
	sub(/^Benchmark/, "", name)
	sub(/-[0-9]+$/, "", name)
	for (i = 2; i < NF; i++) {
		if ($(i + 1) == "ns/op") ns = $i + 0
		if ($(i + 1) == "allocs/op") allocs = $i + 0
	}
	n[name]++
	v[name, n[name]] = ns
	raw[name, n[name]] = ns
	if (allocs > maxallocs[name]) maxallocs[name] = allocs
}
END {
	for (r = 1; r <= n["Envelope/ours"]; r++) {
		pe[r] = raw["Envelope/encoding-json", r] / raw["Envelope/ours", r]
		ph[r] = raw["HotPath/peer", r] / raw["HotPath/ours", r]
	}
	for (k in n) {
		c = n[k]
		for (i = 2; i <= c; i++) {
			x = v[k, i]
			for (j = i - 1; j >= 1 && v[k, j] > x; j--) v[k, j + 1] = v[k, j]
			v[k, j + 1] = x
		}
		med[k] = (c % 2) ? v[k, (c + 1) / 2] : (v[k, c / 2] + v[k, c / 2 + 1]) / 2
	}
	if (!med["Envelope/ours"] || !med["Envelope/encoding-json"] || !med["HotPath/ours"] || !med["HotPath/peer"]) {
		print "envelope.sh: missing benchmark results" > "/dev/stderr"
		exit 1
	}
	printf "median ns/line: envelope ours %.0f, encoding-json %.0f; hot path ours %.0f, peer %.0f\n",
		med["Envelope/ours"], med["Envelope/encoding-json"], med["HotPath/ours"], med["HotPath/peer"]
	re = med["Envelope/encoding-json"] / med["Envelope/ours"]
	rh = med["HotPath/peer"] / med["HotPath/ours"]
	printf "encoding-json/ours = %5.1fx  (target >= 7x)\n", re
	printf "peer/ours          = %5.1fx  (target >= 8x)\n", rh
	printf "per round: encoding-json/ours %s; peer/ours %s\n", range(pe, n["Envelope/ours"]), range(ph, n["Envelope/ours"])
	if (med["Envelope/encoding-json-marshal-only"])
		printf "for the record: json.Marshal alone of prebuilt structs %.0f ns = %.1fx ours (the target compares the whole path from the parsed line)\n",
			med["Envelope/encoding-json-marshal-only"], med["Envelope/encoding-json-marshal-only"] / med["Envelope/ours"]
	printf "allocs/op: envelope ours %d, hot path ours %d (target 0)\n", maxallocs["Envelope/ours"], maxallocs["HotPath/ours"]
	fail = 0
	if (re < 7) { print "FAIL: Append is less than 7x faster than encoding/json"; fail = 1 }
	if (rh < 8) { print "FAIL: the hot path is less than 8x faster than the peer pipeline"; fail = 1 }
	if (maxallocs["Envelope/ours"] > 0 || maxallocs["HotPath/ours"] > 0) { print "FAIL: ours allocates"; fail = 1 }
	exit fail
}
function range(a, c,    i, lo, hi) {
	lo = hi = a[1]
	for (i = 2; i <= c; i++) {
		if (a[i] < lo) lo = a[i]
		if (a[i] > hi) hi = a[i]
	}
	return sprintf("%.1fx..%.1fx", lo, hi)
}' "$raw"
