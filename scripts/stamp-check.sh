#!/usr/bin/env bash
# Checks that a plain `go build` in a clone says which commit it is: the
# `version` subcommand, the "starting" log line and ingress_build_info carry
# the commit, its time and the dirty flag that the go command stamped (no -X
# flags). The clone is of HEAD, so the build is clean (modified=false).
#
# `-buildvcs=auto` is the go command's default; it is spelled out because
# this machine kind's user go env sets GOFLAGS=-buildvcs=false.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

head=$(git rev-parse HEAD)
when=$(TZ=UTC git show -s --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD)
git clone -q --no-hardlinks "$PWD" "$work/clone"
(cd "$work/clone" && git checkout -q "$head" && go build -buildvcs=auto -o "$work/ingress-egress" .)

echo "-- version"
out=$("$work/ingress-egress" version)
echo "$out"
case "$out" in
"ingress-egress v0.0.0-"*"-${head:0:12} revision=$head time=$when modified=false go"*) ;;
*) echo "version does not name commit $head of $when, clean"; exit 1 ;;
esac

echo "-- starting log line and ingress_build_info"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A chat server address where nothing listens: the service stays up,
# reconnecting, and never leaves the machine.
PORT=$port MESSAGE_BUS_DRIVER=stdout TWITCH_IRC_URL=tcp://127.0.0.1:1 LOG_FORMAT=json \
	"$work/ingress-egress" >/dev/null 2>"$work/stderr" &
pid=$!
metrics=
for _ in $(seq 100); do
	if metrics=$(curl -sf "http://127.0.0.1:$port/metrics"); then break; fi
	sleep 0.1
done
line=$(grep -m1 '"message":"starting"' "$work/stderr" || true)
echo "$line" | python3 -c '
import json, sys
head, when = sys.argv[1], sys.argv[2]
b = json.loads(sys.stdin.read())["build"]
assert b["revision"] == head and b["time"] == when and b["modified"] is False and b["version"].endswith(head[:12]), b
print("starting:", b)' "$head" "$when"
echo "$metrics" | grep '^ingress_build_info{'
echo "$metrics" | grep -q "^ingress_build_info{.*revision=\"$head\",vcs_time=\"$when\",modified=\"false\"" || {
	echo "ingress_build_info does not name commit $head"; exit 1; }
echo "-- stamped build checks passed"
