# Shared by the scripts: install Debian packages when a command is missing.

# need_package COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is not on PATH.
need_package() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "==> Installing $2 (for $1)"
    apt_install "$2"
}

# apt_install PACKAGE: installs PACKAGE with apt-get (as root, or through sudo).
apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1" >/dev/null
}

# The test scripts' private world (scripts/browser-test.sh, scripts/autobahn.sh): a scratch
# directory, and servers in it that are stopped, and their logs shown on failure, on exit.

# scratch NAME: makes the scratch directory `work` and arranges for everything started into
# `pids` to be stopped, and the logs in `work` shown if the script fails, when it exits.
scratch() {
    work="$(mktemp -d "${TMPDIR:-/tmp}/tickrouter-$1.XXXXXX")"
    pids=()
    trap scratch_cleanup EXIT
    trap 'exit 130' INT TERM
}

scratch_cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then
        for log in "$work"/*.log; do
            [ -s "$log" ] || continue
            echo "---- last lines of $(basename "$log") ----"
            tail -n 30 "$log"
        done
    fi
    rm -rf "$work"
}

# start_redis: a redis-server on a Unix socket in `work` (no port to collide with anything);
# sets `socket` and `redis_url`.
start_redis() {
    socket="$work/redis.sock"
    redis-server --port 0 --unixsocket "$socket" --unixsocketperm 700 --save '' --appendonly no \
        --dir "$work" >"$work/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        redis-cli -s "$socket" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -s "$socket" ping >/dev/null
    redis_url="unix://$socket"
}

# start_tickrouter NAME [ENV=VALUE...] -- ARGS...: `$bin serve` on a free port (port 0: the
# system picks one, and tickrouter logs the address it got) against `redis_url`, with its log in
# $work/NAME.log; sets `url` (http://ADDR) and `pid`.
start_tickrouter() {
    local name="$1" envs=()
    shift
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env RUST_LOG=info "${envs[@]}" "$bin" serve --bind 127.0.0.1:0 --redis-url "$redis_url" "$@" \
        >"$work/$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    url=""
    for _ in $(seq 300); do
        url="$(grep -o 'listening on http://[0-9.:]*' "$work/$name.log" | head -n 1 | sed 's/^listening on //')" || true
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || { echo "$name exited early"; exit 1; }
        sleep 0.1
    done
    [ -n "$url" ] || { echo "$name did not start listening"; exit 1; }
    echo "==> $name at $url"
}
