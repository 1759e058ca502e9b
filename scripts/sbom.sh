#!/usr/bin/env bash
# Writes a CycloneDX SBOM (JSON) of the service binary's module graph: the
# binary is built as the Dockerfile builds it (go.mod's toolchain release,
# CGO_ENABLED=0, linux/amd64), and cyclonedx-gomod, pinned in the nested
# bench/tools module, reads the modules the go command recorded in it (path,
# version, go.sum hash) plus the standard library's release. Then checks
# that the SBOM names exactly the modules `go list -deps` says the main
# package links, at the same versions.
#
#   scripts/sbom.sh [OUT]   OUT defaults to sbom.cdx.json
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-sbom.cdx.json}
case "$out" in /*) ;; *) out="$root/$out" ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

toolchain=$(sed -n 's/^toolchain //p' go.mod)
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
export CGO_ENABLED=0 GOOS=linux GOARCH=amd64
GOTOOLCHAIN=$toolchain go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X main.version=$version -X main.revision=$(git rev-parse HEAD)" -o "$work/ingress-egress" .
(cd bench/tools && go tool cyclonedx-gomod bin -json -std -version "$version" -output "$out" "$work/ingress-egress")

# Cross-check: every module of a package the binary links, and nothing else.
GOTOOLCHAIN=$toolchain go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}}@{{.Version}}{{end}}{{end}}' . | sort -u >"$out.want"
python3 - "$out" "$out.want" "$toolchain" <<'PY'
import json, sys
bom = json.load(open(sys.argv[1]))
assert bom["bomFormat"] == "CycloneDX", bom.get("bomFormat")
main = bom["metadata"]["component"]
assert main["name"] == "github.com/ingress-egress/ingress-egress", main["name"]
comps = [c for c in bom.get("components", []) if c["name"] != "std"]
std = [c for c in bom.get("components", []) if c["name"] == "std"]
assert std and std[0]["version"] == sys.argv[3], ("standard library", std, sys.argv[3])
got = {c["name"] + "@" + c["version"] for c in comps}
want = {l.strip() for l in open(sys.argv[2]) if l.strip()}
missing, extra = want - got, got - want
if missing or extra:
    sys.exit(f"SBOM disagrees with go list -deps: missing {sorted(missing)}, extra {sorted(extra)}")
nohash = [c["name"] for c in comps if not c.get("hashes")]
if nohash:
    sys.exit(f"components without hashes: {nohash}")
print(f"sbom: {sys.argv[1]}: CycloneDX {bom['specVersion']}, {len(got)} modules and std {std[0]['version']}, matching go list -deps")
PY
rm -f "$out.want"
