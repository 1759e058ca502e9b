# syntax=docker/dockerfile:1

# Build stage: a static, trimmed binary.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ingress-egress .

# Runtime stage: distroless static (CA certificates for TLS to Twitch and
# Google, no shell), as the numeric non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ingress-egress /ingress-egress
ENV PORT=8080 DATA_DIR=/tmp/ingress-egress
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/ingress-egress"]
