# syntax=docker/dockerfile:1
#
# The `inventory` binary, statically linked (musl), on `scratch`: the image
# holds only the binary, a CA bundle and an empty /data owned by the non-root
# user 10001. There is no shell and no curl; the HEALTHCHECK runs
# `inventory healthcheck`.
#
#   docker build -t localhost/inventory:dev \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#
# Build arguments: VERSION, REVISION (the git commit; also reported by
# inventory_build_info on /metrics) and SOURCE (the repository URL) fill the
# OCI labels.
#
# The runtime stage alone, from a binary built elsewhere (no Rust image pulled):
#
#   podman build --build-context builder=CTX --target runtime -t localhost/inventory:dev .
#
# where CTX is a directory laid out like the builder stage's file system:
#
#   CTX/inventory                           the static x86_64 binary (mode 0755)
#   CTX/etc/ssl/certs/ca-certificates.crt   a CA bundle
#   CTX/data/                               an empty directory
#
# for example:
#
#   mkdir -p CTX/etc/ssl/certs CTX/data
#   cp target/x86_64-unknown-linux-musl/release/inventory CTX/inventory
#   cp /etc/ssl/certs/ca-certificates.crt CTX/etc/ssl/certs/

ARG RUST_VERSION=1.95

# ---- toolchain + cargo-chef -------------------------------------------------
FROM rust:${RUST_VERSION}-alpine AS chef
# musl-dev: C headers and start files for the bundled SQLite (rusqlite) and
# mimalloc (the global allocator).
RUN apk add --no-cache 'musl-dev>=1.2' \
 && cargo install cargo-chef --version 0.1.78 --locked \
 && rm -rf "${CARGO_HOME}/registry"
# A smaller, faster binary than the workspace's thin LTO; set here so that the
# cached dependency layer and the final build use the same settings.
ENV CARGO_PROFILE_RELEASE_LTO=fat \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
WORKDIR /app

# ---- the dependency recipe (changes only when a manifest or Cargo.lock does) -
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json --bin inventory

# ---- build: dependencies (cached layer), then the workspace ------------------
FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --target x86_64-unknown-linux-musl \
      --recipe-path recipe.json --bin inventory
COPY . .
ARG REVISION=unknown
# The musl target links statically (crt-static is its default). The binary and
# an empty /data are put where the runtime stage (and a --build-context
# builder=CTX directory, see above) provide them.
RUN GIT_REVISION="${REVISION}" cargo build --release --locked \
      --target x86_64-unknown-linux-musl -p inventory-server --bin inventory \
 && cp target/x86_64-unknown-linux-musl/release/inventory /inventory \
 && /inventory --version \
 && mkdir -p /data

# ---- runtime ----------------------------------------------------------------
FROM scratch AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://example.invalid/inventory-manager
LABEL org.opencontainers.image.title="inventory" \
      org.opencontainers.image.description="Inventory Manager: items, locations and an append-only stock ledger over HTTP" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder --chown=10001:10001 /data /data
COPY --from=builder /inventory /inventory
USER 10001:10001
# The default DATABASE_URL, sqlite://data/inventory.db, is relative to the
# working directory: with / it is /data/inventory.db, the volume below. (The
# image sets no DATABASE_URL, so DATABASE_URL_FILE can be used: setting both
# is an error.)
WORKDIR /
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["/inventory", "healthcheck"]
ENTRYPOINT ["/inventory"]
CMD ["serve"]
