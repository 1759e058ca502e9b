# syntax=docker/dockerfile:1

# Build stage: a static, trimmed binary, built with the Go release named by
# go.mod's toolchain line (scripts/container-check.sh checks they agree).
# To pin by digest, append @sha256:… to both FROM lines (README, "Container
# image").
FROM golang:1.26.11-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION names the release; REVISION is the commit (.git is not in the build
# context, so the go command cannot stamp it itself).
ARG VERSION=dev
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
	-o /out/ingress-egress .

# Runtime stage: distroless static on Debian 13 (CA certificates for TLS to
# Twitch and Google, no shell), as the numeric non-root user.
FROM gcr.io/distroless/static-debian13:nonroot
ARG VERSION=dev
ARG REVISION=
LABEL org.opencontainers.image.source="https://github.com/ingress-egress/ingress-egress" \
	org.opencontainers.image.version="${VERSION}" \
	org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/ingress-egress /ingress-egress
ENV PORT=8080 DATA_DIR=/tmp/ingress-egress
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/ingress-egress"]
