#!/usr/bin/env bash
# parse.sh: compare ircv3.Parse with ergochat's ircmsg.ParseLine, go-twitch-irc's
# ParseMessage and a bare split over the committed Twitch corpus, in one
# `go test -bench` run; print the benchstat table and the ratios of the medians.
# Exits 1 when a target of issue 2 is missed: ergochat/ours >= 6,
# gotwitchirc/ours >= 25, ours at 0 allocs/op.
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

go test -run '^$' -bench '^BenchmarkParse$' -benchtime "$benchtime" -count "$count" . | tee "$raw"
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
	if (allocs > maxallocs[name]) maxallocs[name] = allocs
}
END {
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
	printf "ours allocs/op   = %d      (target 0)\n", maxallocs["ours"]
	fail = 0
	if (re < 6) { print "FAIL: ours is less than 6x faster than ergochat"; fail = 1 }
	if (rt < 25) { print "FAIL: ours is less than 25x faster than gotwitchirc"; fail = 1 }
	if (maxallocs["ours"] > 0) { print "FAIL: ours allocates"; fail = 1 }
	exit fail
}' "$raw"
