#!/usr/bin/env bash
# Checks what this machine can check of the container (no Docker engine, no
# base images to pull): the Dockerfile builds on the Go release go.mod's
# toolchain line names and runs on distroless static-debian13 as a numeric
# non-root user; the binary builds with that Go release and the Dockerfile's
# flags and is static; the Dockerfile passes dockerfilelint; an image of the
# runtime stage, built with buildah FROM scratch with the CA bundle and the
# non-root user, holds a binary that runs.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "-- Dockerfile's base images"
toolchain=$(sed -n 's/^toolchain go//p' go.mod)
[ -n "$toolchain" ] || { echo "go.mod has no toolchain line"; exit 1; }
grep -q "^FROM golang:${toolchain}-trixie AS build\$" Dockerfile || { echo "Dockerfile's build image is not golang:${toolchain}-trixie (go.mod's toolchain)"; exit 1; }
grep -q '^FROM gcr.io/distroless/static-debian13:nonroot$' Dockerfile
grep -q '^USER 65532:65532$' Dockerfile
grep -q '^ARG REVISION=$' Dockerfile
grep -q -- '-X main.revision=${REVISION}' Dockerfile

echo "-- static build with go${toolchain} (through the module proxy) and the Dockerfile's flags"
# -buildvcs=false: the container build has no .git; the commit comes from the
# REVISION build argument, as -X main.revision.
head=$(git rev-parse HEAD)
GOTOOLCHAIN=go${toolchain} CGO_ENABLED=0 go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X main.version=ci -X main.revision=$head" -o "$work/ctx/ingress-egress" .
if ldd "$work/ctx/ingress-egress" >/dev/null 2>&1; then
	echo "binary is dynamically linked"; exit 1
fi
go version "$work/ctx/ingress-egress" | grep -q " go${toolchain}\$"

echo "-- dockerfilelint"
lint=.cache/npm/node_modules/.bin/dockerfilelint
if [ ! -x "$lint" ]; then # scripts/setup.sh installs it; this covers a run of this script alone
	echo "container-check: installing dockerfilelint@1.8.0 from npm into .cache/npm"
	npm install --silent --no-audit --no-fund --prefix .cache/npm dockerfilelint@1.8.0 >/dev/null
fi
"$lint" Dockerfile

echo "-- buildah image of the runtime stage"
mkdir -p "$work/ctx/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$work/ctx/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$work/ctx/passwd"
cat >"$work/ctx/Dockerfile.ci" <<'DOCKERFILE'
FROM scratch
COPY etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY passwd /etc/passwd
COPY ingress-egress /ingress-egress
ENV PORT=8080 DATA_DIR=/tmp/ingress-egress
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/ingress-egress"]
DOCKERFILE
b=(buildah --root "$work/root" --runroot "$work/run" --storage-driver vfs)
"${b[@]}" bud --quiet --isolation chroot -f "$work/ctx/Dockerfile.ci" -t localhost/ingress-egress:ci "$work/ctx" >/dev/null
"${b[@]}" push --quiet localhost/ingress-egress:ci "oci-archive:$work/image.tar" >/dev/null
user=$("${b[@]}" inspect --format '{{.OCIv1.Config.User}}' localhost/ingress-egress:ci)
[ "$user" = "65532:65532" ] || { echo "image user is $user"; exit 1; }

echo "-- run the binary from the unpacked image root"
mkdir -p "$work/oci" "$work/rootfs"
tar -xf "$work/image.tar" -C "$work/oci"
for layer in $(python3 -c 'import json,sys
idx=json.load(open(sys.argv[1]+"/index.json"))
man=json.load(open(sys.argv[1]+"/blobs/"+idx["manifests"][0]["digest"].replace(":","/")))
print(" ".join(l["digest"].replace(":","/") for l in man["layers"]))' "$work/oci"); do
	tar -xf "$work/oci/blobs/$layer" -C "$work/rootfs"
done
out=$(setpriv --reuid 65532 --regid 65532 --clear-groups "$work/rootfs/ingress-egress" version)
echo "$out"
[ "$out" = "ingress-egress ci revision=$head modified=false go${toolchain}" ]
test -s "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
echo "-- container checks passed"
