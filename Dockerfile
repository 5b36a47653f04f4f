# syntax=docker/dockerfile:1
# Build a static tpx (pure Go: the embedded SQLite driver needs no cgo).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
# The upload-token verifier is a module of its own that go.mod replaces with ./verify.
COPY verify/go.mod verify/go.sum ./verify/
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/tpx ./cmd/tpx \
 && mkdir -p /out/data

# distroless/static: CA certificates for issuer HTTPS, no shell, a non-root user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tpx /usr/local/bin/tpx
COPY --from=build --chown=65532:65532 /out/data /data
ENV TPX_ADDR=0.0.0.0:8080 \
    TPX_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
# `docker run IMAGE` serves; `docker run IMAGE user add …` runs another subcommand.
ENTRYPOINT ["/usr/local/bin/tpx"]
CMD ["serve"]
