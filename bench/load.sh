#!/usr/bin/env bash
# Runs the end-to-end load scenarios and writes REPORT.md and report.svg
# here: builds the service (../), the Go peer, the floor and the harness into out/,
# installs the Twurple peer's packages if needed, then runs cmd/load with the
# arguments given (see `go run ./cmd/load -h`). Examples:
#   ./load.sh                                        # everything (~45 min on 2 cores)
#   ./load.sh -scenarios hundred,tenk -duration 10s
#   ./load.sh -render out/results.jsonl              # rewrite the report only
# Results are appended to out/results.jsonl (the report uses the last run of
# each scenario, target and bus); move it away to start afresh.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p out
(cd .. && go build -o bench/out/ingress-egress .)
go build -o out/gopeer ./peers/gopeer
go build -o out/floor ./peers/floor
go build -o out/load ./cmd/load
if command -v node >/dev/null && [ ! -d peers/twurple/node_modules ]; then
	(cd peers/twurple && npm ci --no-audit --no-fund)
fi
exec out/load -service out/ingress-egress -gopeer out/gopeer -floor out/floor -twurple peers/twurple/peer.js \
	-out out/results.jsonl -md REPORT.md -svg report.svg "$@"
