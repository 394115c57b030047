# tickrouter: multi-stage build; the runtime image holds the binary, the dashboard and the
# example configs, and runs as an unprivileged user.

FROM rust:1-bookworm AS build
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

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home tickrouter
# static_dir ("static") and the config paths are relative to this directory.
WORKDIR /app
COPY --from=build /src/target/release/tickrouter /usr/local/bin/tickrouter
COPY static ./static
COPY config ./config
USER tickrouter
EXPOSE 8080
ENV RUST_LOG=info
# /health answers 503 while the Redis subscription is down.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fs http://127.0.0.1:8080/health >/dev/null || exit 1
ENTRYPOINT ["tickrouter"]
CMD ["serve", "--bind", "0.0.0.0:8080"]
