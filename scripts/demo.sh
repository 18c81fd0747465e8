#!/usr/bin/env bash
# Runs a local broadcast: a relay with a demo user and stream, and a sender
# publishing the built-in test source to it. Ctrl-C stops both.
#
#   QUICAST_DEMO_LISTEN  relay address (default 127.0.0.1:8443)
#   QUICAST_DEMO_DIR     state directory (default .demo)
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${QUICAST_DEMO_LISTEN:-127.0.0.1:8443}
dir=${QUICAST_DEMO_DIR:-.demo}
data=$dir/relay
port=${listen##*:}
host=${listen%:*}
[ "$host" = "0.0.0.0" ] || [ -z "$host" ] && host=127.0.0.1

mkdir -p "$dir"
bin/quicast-relay -data "$data" demo -env "$dir/demo.env" >/dev/null
# shellcheck disable=SC1091
. "$dir/demo.env"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping…"
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

bin/quicast-relay -listen "$listen" -data "$data" &
pids+=($!)

# Wait for the relay's HTTPS port.
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

bin/quicast-send -relay "https://localhost:$port" -stream "$QUICAST_STREAM" -key "$QUICAST_KEY" \
  -ca "$data/certs/ca.pem" -video test -audio test &
pids+=($!)

cat <<TXT

  quicast demo is running.

  Watch:     https://localhost:$port/watch/$QUICAST_STREAM
  Log in as: $QUICAST_USER
  Password:  $QUICAST_PASSWORD

  The relay's certificate is signed by a local CA ($data/certs/ca.pem); the
  page passes its hash to WebTransport, but the browser will ask you to accept
  the HTTPS page once unless you import that CA.

  Ctrl-C stops the relay and the sender.

TXT
wait -n "${pids[@]}" || true
