#!/usr/bin/env bash
# parse.sh: compare ircv3.Parse with ergochat's ircmsg.ParseLine, go-twitch-irc's
# ParseMessage and a bare split over the committed Twitch corpus, in one
# `go test -bench` run; print the benchstat table and the ratios of the medians.
# Exits 1 when a parse target is missed: ergochat/ours >= 6,
# gotwitchirc/ours >= 25, ours at 0 allocs/op.
#
# The samples are the same as `go test -bench '^BenchmarkParse$' -count 10`,
# but taken in COUNT interleaved rounds (the test binary is built once and run
# with -test.count 1 each time): -count 10 runs each sub-benchmark ten times
# back to back, so on a shared machine a change of load between those phases
# skews the ratios; rounds expose every parser to the same load.
#
# Environment: COUNT (default 10), BENCHTIME (default 1s; 4 benchmarks x COUNT x
# BENCHTIME is about the run time, ~1 min on 2 cores), OUT (default ./out, where
# the raw output is kept as parse.txt for later benchstat comparisons).
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-10}
benchtime=${BENCHTIME:-1s}
out=${OUT:-out}
mkdir -p "$out"
raw="$out/parse.txt"

go test -c -o "$out/bench.test" .
: >"$raw"
for ((round = 1; round <= count; round++)); do
	"$out/bench.test" -test.run '^$' -test.bench '^BenchmarkParse$' -test.benchtime "$benchtime" -test.count 1 |
		if ((round == 1)); then cat; else grep '^Benchmark'; fi | tee -a "$raw"
done
echo
go run golang.org/x/perf/cmd/benchstat@latest "$raw"
echo
awk '
/^BenchmarkParse\// {
	name = $1
	sub(/^BenchmarkParse\//, "", name)
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
	# the ratio in each round, before v is sorted
	for (r = 1; r <= n["ours"]; r++) {
		pe[r] = raw["ergochat", r] / raw["ours", r]
		pt[r] = raw["gotwitchirc", r] / raw["ours", r]
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
	if (!med["ours"] || !med["ergochat"] || !med["gotwitchirc"]) {
		print "parse.sh: missing benchmark results" > "/dev/stderr"
		exit 1
	}
	printf "median ns/line: ours %.0f, ergochat %.0f, gotwitchirc %.0f, split %.0f\n", med["ours"], med["ergochat"], med["gotwitchirc"], med["split"]
	re = med["ergochat"] / med["ours"]
	rt = med["gotwitchirc"] / med["ours"]
	printf "ergochat/ours    = %5.1fx  (target >= 6x)\n", re
	printf "gotwitchirc/ours = %5.1fx  (target >= 25x)\n", rt
	printf "ours/split       = %5.2fx  (the bare split is the floor)\n", med["ours"] / med["split"]
	printf "per round: ergochat/ours %s; gotwitchirc/ours %s\n", range(pe, n["ours"]), range(pt, n["ours"])
	printf "ours allocs/op   = %d      (target 0)\n", maxallocs["ours"]
	fail = 0
	if (re < 6) { print "FAIL: ours is less than 6x faster than ergochat"; fail = 1 }
	if (rt < 25) { print "FAIL: ours is less than 25x faster than gotwitchirc"; fail = 1 }
	if (maxallocs["ours"] > 0) { print "FAIL: ours allocates"; fail = 1 }
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
