#!/usr/bin/env bash
# start.sh PORT REDIS_PORT CHANNEL: the tickrouter peer (../tickrouter/start.sh), measured
# through /socket.io/ (peer.env).
here="$(cd "$(dirname "$0")" && pwd -P)"
exec "$here/../tickrouter/start.sh" "$@"
