#!/usr/bin/env bash
# Builds the Docker image and runs the compose stack once, to check that it really works:
# the image builds, `tickrouter healthcheck` marks the container healthy, the client port answers
# on localhost:8080 and the admin port (/metrics) on 127.0.0.1:9090 only, and Redis writes its
# append-only file to its volume. Needs a Docker engine with the compose plugin; not part of
# scripts/test.sh (CI has no Docker engine: tests/it/docker.rs checks the files as text there).
#
#   scripts/docker-build.sh            # build, start, check, stop (volumes removed)
#   KEEP=1 scripts/docker-build.sh     # leave the stack running
#
# The stack runs as its own compose project (tickrouter-build-check), so it does not touch a
# `docker compose up` of yours; it needs ports 8080 and 9090 free.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
project=tickrouter-build-check
compose=(docker compose --project-name "$project" --file docker-compose.yml)

command -v docker >/dev/null || { echo "docker-build.sh: no docker command" >&2; exit 2; }

echo "==> docker compose config (the file as compose reads it)"
"${compose[@]}" config --quiet

echo "==> docker build -t tickrouter:$version ."
docker build --tag "tickrouter:$version" .
docker run --rm "tickrouter:$version" --version

cleanup() {
    if [ -z "${KEEP:-}" ]; then
        echo "==> docker compose down --volumes"
        "${compose[@]}" down --volumes --timeout 15 >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

echo "==> docker compose up"
"${compose[@]}" up --detach --wait --wait-timeout 120

container=$("${compose[@]}" ps --quiet tickrouter)
health=$(docker inspect --format '{{.State.Health.Status}}' "$container")
[ "$health" = healthy ] || { echo "tickrouter container is $health" >&2; exit 1; }
echo "    tickrouter container: $health (tickrouter healthcheck)"

get() {  # get URL: the body, failing on anything but a 2xx (curl on this machine, not in the image)
    curl --fail --silent --show-error --max-time 5 "$1"
}
get http://127.0.0.1:8080/live >/dev/null
get http://127.0.0.1:8080/ready >/dev/null
get http://127.0.0.1:9090/metrics | grep -q '^tickrouter_build_info' \
    || { echo "no tickrouter_build_info on the admin port" >&2; exit 1; }
status=$(curl --silent --output /dev/null --write-out '%{http_code}' http://127.0.0.1:8080/metrics)
[ "$status" = 404 ] || { echo "/metrics answers $status on the client port, not 404" >&2; exit 1; }
echo "    :8080 /live and /ready answer, /metrics is on :9090 only"

redis=$("${compose[@]}" ps --quiet redis)
[ "$(docker exec "$redis" redis-cli CONFIG GET appendonly | tail -1)" = yes ] \
    || { echo "Redis runs without its append-only file" >&2; exit 1; }
echo "    Redis: appendonly yes, data in the volume ${project}_redis-data"

echo "docker-build.sh: the image tickrouter:$version builds and the compose stack works"
