#!/usr/bin/env bash
# Installs what the tests need on a fresh machine of this project's kind
# (Debian, Go 1.26, gcloud with its emulators): Debian packages and Go
# modules. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v inspircd >/dev/null 2>&1 || [ -x /usr/sbin/inspircd ] || need+=(inspircd)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v kubectl >/dev/null 2>&1 || need+=(kubectl)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
	echo "setup: apt-get install ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -f bench/peers/twurple/package-lock.json ] && [ ! -d bench/peers/twurple/node_modules ]; then
	echo "setup: npm ci (bench/peers/twurple)"
	(cd bench/peers/twurple && npm ci --no-audit --no-fund --silent)
fi

echo "setup: go mod download"
go mod download
if [ -f bench/go.mod ]; then (cd bench && go mod download); fi
if [ -f bench/tools/go.mod ]; then
	echo "setup: go mod download (bench/tools: cyclonedx-gomod, govulncheck, golang.org/x/vulndb)"
	(cd bench/tools && go mod download)
fi
toolchain=$(sed -n 's/^toolchain //p' go.mod)
if [ -n "$toolchain" ]; then
	if [ ! -d "$(go env GOMODCACHE)/golang.org/toolchain@v0.0.1-$toolchain.$(go env GOOS)-$(go env GOARCH)" ]; then
		echo "setup: Go $toolchain (go.mod's toolchain line: the container build, SBOM and vulnerability check use it), from the module proxy"
	fi
	GOTOOLCHAIN=$toolchain go version >/dev/null
fi
