# tickrouter: multi-stage build; the runtime image holds the binary, the dashboard and the
# example configs, and runs as an unprivileged user.
#
# Every base image is pinned to a version (tests/it/docker.rs refuses floating tags), so a
# rebuild gets the same toolchain and the same Debian; bump them on purpose. The toolchain is the
# one CI tests with; both stages are Debian 12 (bookworm), so the binary finds the glibc it was
# linked against. scripts/docker-build.sh builds the image and checks it answers.

FROM rust:1.95.0-bookworm AS build
WORKDIR /src
# Dependencies first, against stub sources, so code changes do not rebuild them. The workspace
# needs every member's manifest (and a target for each); the load generator
# (crates/tickrouter-bench) stays a stub, and `-p tickrouter` builds the server's dependencies
# only, not the load generator's.
COPY Cargo.toml Cargo.lock ./
COPY crates/tickrouter-bench/Cargo.toml ./crates/tickrouter-bench/
RUN mkdir -p src crates/tickrouter-bench/src \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > crates/tickrouter-bench/src/main.rs \
    && cargo build --release --locked -p tickrouter && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked -p tickrouter

FROM debian:bookworm-20260803-slim
# ca-certificates: https to a JWKS (auth.jwks_url) and rediss:// to Redis. No curl: the
# HEALTHCHECK is the binary itself.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home tickrouter
# static_dir ("static") and the config paths are relative to this directory.
WORKDIR /app
COPY --from=build /src/target/release/tickrouter /usr/local/bin/tickrouter
COPY static ./static
COPY config ./config
USER tickrouter
# 8080: clients (WebSocket, dashboard, API, probes); 9090: server.admin_bind when a config file
# sets it (metrics, stats, debug), see docker-compose.yml.
EXPOSE 8080 9090
ENV RUST_LOG=info
# GET /live: 200 while the process serves HTTP. Not /health or /ready: they fail during a Redis
# outage, and a restart would not bring Redis back (docs/DEPLOYMENT.md, Probes). Listening
# elsewhere than 8080, or with [server.tls]? Override it: `--health-cmd "tickrouter healthcheck
# --url http://127.0.0.1:9090/live"` (the admin listener stays plain HTTP).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["tickrouter", "healthcheck", "--timeout", "3"]
ENTRYPOINT ["tickrouter"]
CMD ["serve", "--bind", "0.0.0.0:8080"]
