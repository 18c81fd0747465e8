#!/usr/bin/env bash
# Runs a local broadcast: a relay with a demo user and stream, and a sender
# publishing the built-in test source to it. Ctrl-C stops both.
#
#   QUICAST_DEMO_LISTEN  relay address (default 127.0.0.1:8443; :8443 for the LAN)
#   QUICAST_DEMO_DIR     state directory (default .demo)
#   QUICAST_BIN          where the binaries are (default bin)
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${QUICAST_DEMO_LISTEN:-127.0.0.1:8443}
dir=${QUICAST_DEMO_DIR:-.demo}
bin=${QUICAST_BIN:-bin}
data=$dir/relay
port=${listen##*:}
host=${listen%:*}
case "$host" in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac

mkdir -p "$dir"
"$bin/quicast-relay" -data "$data" demo -env "$dir/demo.env" >/dev/null
# shellcheck disable=SC1091
. "$dir/demo.env"

relay_pid= send_pid=
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping…"
  for p in $send_pid $relay_pid; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "both stopped"
  exit 0
}
trap stop INT TERM EXIT

# The relay first: if it cannot serve (the port is taken, the data directory
# is unreadable) say why and stop before anything else.
relay_log=$dir/relay.log
"$bin/quicast-relay" -listen "$listen" -data "$data" >"$relay_log" 2>&1 &
relay_pid=$!
for _ in $(seq 1 300); do
  if grep -q "serving on" "$relay_log"; then break; fi
  if ! kill -0 "$relay_pid" 2>/dev/null; then
    wait "$relay_pid" || true
    relay_pid=
    trap - INT TERM EXIT
    echo "quicast demo: the relay could not start on $listen:" >&2
    grep -v '^time=' "$relay_log" | sed 's/^/  /' >&2
    exit 1
  fi
  sleep 0.1
done

start_sender() {
  "$bin/quicast-send" -relay "https://$host:$port" -stream "$QUICAST_STREAM" -key-file "$dir/demo.key" \
    -ca "$data/certs/ca.pem" -video test -audio test &
  send_pid=$!
}
umask 077
printf '%s\n' "$QUICAST_KEY" >"$dir/demo.key"
start_sender

urls=$(sed -n 's#^    \(https://.*\)/login$#\1#p' "$relay_log")
cat <<TXT

  quicast demo is running.

  Watch:     $(for u in $urls; do printf '%s/watch/%s  ' "$u" "$QUICAST_STREAM"; done)
  Log in as: $QUICAST_USER
  Password:  $QUICAST_PASSWORD

  The relay's certificate is signed by a local CA ($data/certs/ca.pem); the
  player trusts it by its hash, but the browser warns about the HTTPS page
  once unless you import that CA ($(set -- $urls; echo "$1")/ca says how).
  The relay's log: $relay_log.  Ctrl-C stops the relay and the sender.

TXT

# The sender may stop (a file source ends, a device fails): the relay keeps
# serving, and says so. When the relay stops, so does the demo.
while kill -0 "$relay_pid" 2>/dev/null; do
  if [ -n "$send_pid" ] && ! kill -0 "$send_pid" 2>/dev/null; then
    status=0
    wait "$send_pid" || status=$?
    send_pid=
    echo "quicast demo: the sender stopped (exit status $status); the relay keeps running at $listen." >&2
    echo "  publish again with: $bin/quicast-send -relay https://$host:$port -stream $QUICAST_STREAM -key-file $dir/demo.key -ca $data/certs/ca.pem" >&2
  fi
  sleep 0.5
done
status=0
wait "$relay_pid" || status=$?
trap - INT TERM EXIT
[ -n "$send_pid" ] && kill -INT "$send_pid" 2>/dev/null && wait "$send_pid" 2>/dev/null || true
echo "quicast demo: the relay stopped (exit status $status):" >&2
tail -n 5 "$relay_log" | sed 's/^/  /' >&2
exit 1
