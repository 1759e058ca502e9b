#!/usr/bin/env bash
# Installs what the tests need on a fresh machine of this project's kind
# (Debian, Go 1.26, gcloud with its emulators): Debian packages, npm
# packages and Go modules. It says what it will install before it does.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, by the command the tests use.
apt_need=()
command -v inspircd >/dev/null 2>&1 || [ -x /usr/sbin/inspircd ] || apt_need+=(inspircd) # a real IRC server for the connection tests
command -v buildah >/dev/null 2>&1 || apt_need+=(buildah)                                # the container image check
command -v setpriv >/dev/null 2>&1 || apt_need+=(util-linux)                             # setpriv: run the image's binary as its user
command -v kubectl >/dev/null 2>&1 || apt_need+=(kubectl)                                # render the Kubernetes manifests
command -v promtool >/dev/null 2>&1 || apt_need+=(prometheus)                            # promtool and a real Prometheus for the alerts and dashboard

twurple=false
if [ -f bench/peers/twurple/package-lock.json ] && [ ! -d bench/peers/twurple/node_modules ]; then
	twurple=true
fi
dockerfilelint=false
[ -x .cache/npm/node_modules/.bin/dockerfilelint ] || dockerfilelint=true
toolchain=$(sed -n 's/^toolchain //p' go.mod)
gotoolchain=false
if [ -n "$toolchain" ] && [ ! -d "$(go env GOMODCACHE)/golang.org/toolchain@v0.0.1-$toolchain.$(go env GOOS)-$(go env GOARCH)" ]; then
	gotoolchain=true
fi

echo "setup: installing what this machine lacks:"
if [ ${#apt_need[@]} -gt 0 ]; then
	echo "  - Debian packages (apt-get update, apt-get install): ${apt_need[*]}"
fi
if $twurple; then
	echo "  - the npm packages of the Twurple peer (npm ci in bench/peers/twurple, as its package-lock.json pins them)"
fi
if $dockerfilelint; then
	echo "  - the Dockerfile linter dockerfilelint@1.8.0 from npm, into .cache/npm"
fi
if $gotoolchain; then
	echo "  - Go $toolchain from the module proxy (go.mod's toolchain line: the container build, SBOM and vulnerability check use it)"
fi
echo "  - the Go modules of go.mod, bench/go.mod and bench/tools/go.mod (cyclonedx-gomod, govulncheck, golang.org/x/vulndb) not yet in the module cache (go mod download)"

if [ ${#apt_need[@]} -gt 0 ]; then
	echo "setup: apt-get install ${apt_need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${apt_need[@]}" >/dev/null
fi

if $twurple; then
	echo "setup: npm ci (bench/peers/twurple)"
	(cd bench/peers/twurple && npm ci --no-audit --no-fund --silent)
fi

if $dockerfilelint; then
	echo "setup: npm install dockerfilelint@1.8.0 (.cache/npm)"
	npm install --silent --no-audit --no-fund --prefix .cache/npm dockerfilelint@1.8.0 >/dev/null
fi

echo "setup: go mod download"
go mod download
if [ -f bench/go.mod ]; then (cd bench && go mod download); fi
if [ -f bench/tools/go.mod ]; then (cd bench/tools && go mod download); fi
if [ -n "$toolchain" ]; then
	GOTOOLCHAIN=$toolchain go version >/dev/null
fi
