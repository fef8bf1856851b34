#!/usr/bin/env bash
# What a standby costs its PostgreSQL database: logins per minute while another queue is active.
# Builds nothing. Starts a throwaway PostgreSQL 15 cluster (initdb in a mktemp -d directory,
# 127.0.0.1 at a port the kernel picks, trust for loopback, log_connections on), an active queue
# and a standby on one database, counts the logins to that database over the window
# (pg_stat_database.sessions) and the "connection authorized" lines in the server log, then
# stops everything by PID and removes the directory.
#
#   bench/standby_sessions.sh [seconds]     window (default 60)
#
# Environment:
#   BIN     the server binary (default: <repo>/build/gateway-queue), e.g. an older build to compare
#   PG_BIN  PostgreSQL's programs (default /usr/lib/postgresql/15/bin); needs psql too
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
BIN="${BIN:-$repo/build/gateway-queue}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
window="${1:-60}"
[[ -x "$BIN" ]] || { echo "standby_sessions.sh: $BIN is missing (set BIN)" >&2; exit 1; }
[[ -x "$PG_BIN/initdb" ]] || { echo "standby_sessions.sh: needs $PG_BIN/initdb (apt-get install postgresql)" >&2; exit 1; }

dir="$(mktemp -d /tmp/gq-standby-sessions.XXXXXX)"
pids=()
started=0
as_postgres() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [[ $started -eq 1 ]] && as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
pg_port="$(free_port)"
as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$dir/data/pg_hba.conf"
started=1
as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c log_connections=on" start >/dev/null
admin="postgresql://postgres@127.0.0.1:$pg_port/postgres"
psql -X -q -v ON_ERROR_STOP=1 -d "$admin" -c "CREATE DATABASE gq_standby"
uri="postgresql://postgres@127.0.0.1:$pg_port/gq_standby"

# start_queue NAME: a queue on the database, its port in queue_port. (Not in a command
# substitution: its PID must reach `pids` for the cleanup.)
start_queue() {
  queue_port="$(free_port)"
  HOST=127.0.0.1 PORT="$queue_port" QUEUE_DB="$uri" "$BIN" >"$dir/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$queue_port/health" && break
    sleep 0.1
  done
}
start_queue active
active_port="$queue_port"
curl -fs -o /dev/null "http://127.0.0.1:$active_port/ready" || { echo "the first queue is not active" >&2; exit 1; }
sleep 1  # the active queue's own logins are counted before the window
sessions() {
  psql -X -q -A -t -d "$admin" -c "SELECT sessions FROM pg_stat_database WHERE datname = 'gq_standby'"
}
logins() { grep -c 'connection authorized: user=postgres database=gq_standby' "$dir/server.log" || true; }
sessions_before="$(sessions)"
logins_before="$(logins)"
start_queue standby
standby_port="$queue_port"
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$standby_port/ready")" == 503 ]] ||
  { echo "the second queue is not a standby" >&2; exit 1; }
sleep "$window"
sessions_after="$(sessions)"
logins_after="$(logins)"
echo "binary: $("$BIN" --version | head -1)"
echo "window: $window s, one standby"
echo "sessions (pg_stat_database): $((sessions_after - sessions_before)), per minute: $(((sessions_after - sessions_before) * 60 / window))"
echo "connection authorized log lines: $((logins_after - logins_before))"
