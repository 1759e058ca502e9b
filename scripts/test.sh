#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing
# (scripts/setup.sh), then checks formatting, vets, runs the tests with the
# race detector, the allocation guards without it, a short fuzz of every
# fuzz target, and a one-iteration run of every benchmark.
#
#   FUZZTIME=20s  how long each fuzz target runs (0 to skip)
#   REQUIRE_INTEGRATION=1  fail instead of skipping when a real server
#                          (emulator, InspIRCd) is missing (CI sets it)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:$(go env GOPATH)/bin"

bash scripts/setup.sh

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$bad" ]; then echo "not gofmt-formatted:"; echo "$bad"; exit 1; fi

echo "== go vet"
go vet ./...
if [ -f bench/go.mod ]; then (cd bench && go vet ./...); fi

echo "== go test -race"
go test -race -count=1 -timeout 15m ./...

echo "== allocation guards (no -race)"
go test -count=1 -run 'Alloc' ./...

echo "== fuzz smoke"
fuzztime=${FUZZTIME:-20s}
if [ "$fuzztime" != "0" ]; then
	for pkg in $(go list ./...); do
		dir=$(go list -f '{{.Dir}}' "$pkg")
		for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
			echo "-- $pkg $target ($fuzztime)"
			go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tail -3
		done
	done
fi

echo "== benchmarks compile and run once"
go test -run '^$' -bench . -benchtime 1x ./... >/dev/null
if [ -f bench/go.mod ]; then (cd bench && go test -count=1 -run . -bench . -benchtime 1x ./... | tail -20); fi

echo "== container"
bash scripts/container-check.sh

echo "== all tests passed"
