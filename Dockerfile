# One image per Staybook service, all from this file:
#
#   docker build --build-arg SERVICE=booking -t staybook/booking:dev .
#
# SERVICE names a directory of services/, or is `loadtest` (the load test,
# loadtest/, for `make loadtest-compose`). docker-compose.yml builds every
# image this way. The build uses the go.work workspace, so the images
# contain exactly the code `make build` compiles.
#
# Pins: the Go image by exact version (go.work asks for go 1.26.8; the
# toolchain is never downloaded during the build, GOTOOLCHAIN=local), the
# runtime image by digest (distroless publishes no version tags). To move
# the runtime image on:
#   crane digest gcr.io/distroless/static-debian12:nonroot
# (or `docker buildx imagetools inspect`), then replace the digest below.

FROM golang:1.26.8-bookworm AS build
ARG SERVICE
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath

COPY go.work go.work.sum ./
COPY shared/ shared/
COPY services/ services/
# gofpdf, patched: the voucher service's go.mod replaces it with this copy.
COPY third_party/ third_party/
# The load test and the system module it imports (no service imports them).
# A change there re-runs every image's build step, which the cache mounts
# below keep quick.
COPY system/ system/
COPY loadtest/ loadtest/

# go.work also lists modules the images do not need (system/, and whatever
# is added later): drop every listed directory that is not in the build
# context, so the workspace resolves with shared/ and services/ alone.
RUN for dir in $(go work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p'); do \
        [ -f "$dir/go.mod" ] || go work edit -dropuse="$dir"; \
    done

# The cache mounts keep modules and compiled packages between the builds
# of the six images, so shared/ and the libraries compile once. Extra
# commands of a service (services/deadletters/cmd/dlq, the dead-letter CLI)
# are built too and go on the PATH of its image.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    mkdir -p /out/bin; \
    if [ "${SERVICE}" = loadtest ]; then \
        go build -ldflags="-s -w" -o /out/app ./loadtest; \
        exit 0; \
    fi; \
    if [ -z "${SERVICE}" ] || [ ! -f "services/${SERVICE}/main.go" ]; then \
        echo "build argument SERVICE must name a directory of services/ with a main.go, or be loadtest (got '${SERVICE}')" >&2; \
        exit 1; \
    fi; \
    go build -ldflags="-s -w" -o /out/app "./services/${SERVICE}"; \
    if [ -d "services/${SERVICE}/cmd" ]; then \
        go build -ldflags="-s -w" -o /out/bin/ "./services/${SERVICE}/cmd/..."; \
    fi

# Runtime: no shell, no package manager, CA certificates and tzdata only;
# user and group 65532 ("nonroot"). Health checks therefore run the binary
# itself: `/app healthcheck` GETs http://127.0.0.1:<port of HTTP_ADDR>/readyz
# and exits 0 on 200, 1 otherwise.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="staybook-${SERVICE}" \
      org.opencontainers.image.source="https://github.com/staybook/staybook"
COPY --from=build /out/app /app
COPY --from=build /out/bin/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/app"]
