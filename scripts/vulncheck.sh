#!/usr/bin/env bash
# Checks the service's code for known vulnerabilities, offline: indexdb
# builds a local Go vulnerability database from the OSV records of the
# golang.org/x/vulndb module (served by the Go module proxy; the version is
# pinned in bench/tools/go.mod), and govulncheck (pinned there too) scans the
# service's packages against it with the Go release go.mod's toolchain line
# names, the one the Dockerfile builds with. It fails (exit 3) on a
# vulnerability in code the service calls; a vulnerable module that is
# required or imported but never called is listed, not failed.
#
# The database is kept in .cache/vulndb/<vulndb version> and built again
# when the pinned version changes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
toolchain=$(sed -n 's/^toolchain //p' go.mod)

cd bench/tools
vulndb=$(go list -m -f '{{.Version}}' golang.org/x/vulndb)
src=$(go mod download -json golang.org/x/vulndb | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
db="$root/.cache/vulndb/$vulndb"
if [ ! -s "$db/index/db.json" ]; then
	echo "-- building the vulnerability database from golang.org/x/vulndb@$vulndb ($(ls "$src/data/osv" | wc -l) OSV records)"
	rm -rf "$db.tmp" && mkdir -p "$db.tmp"
	go tool indexdb -vulns "$src/data/osv" -out "$db.tmp"
	rm -rf "$db" && mv "$db.tmp" "$db"
fi
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$db/index/vulns.json")
[ "$n" -gt 1000 ] || { echo "the database holds only $n records"; exit 1; }
echo "-- govulncheck with $toolchain against $n records of golang.org/x/vulndb@$vulndb"
GOTOOLCHAIN=$toolchain go tool govulncheck -db "file://$db" -C "$root" ./...
