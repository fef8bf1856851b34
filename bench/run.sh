#!/usr/bin/env bash
# Runs the gateway-queue benchmark scenarios against an already built Release binary.
# Builds nothing. Every scenario starts its own server on loopback with a fresh journal
# (QUEUE_DB in a mktemp -d directory), drives it with bench/load, and stops it by PID.
#
#   bench/run.sh [scenario...]      scenarios: hold hold-bare drain drain-big tick hangup
#                                   hangup-held journal attack startup burst, and for several
#                                   bots in one queue (a bots file of bots b0, b1, ...):
#                                   bots-idle bots-hold bots-load bots-startup bots-reload
#                                   (default: all, in that order)
#
# burst: 64 buckets at 200 ms, 19,000 waiters connected first without a request; a prime round
# (one grant per bucket), then all 19,000 requests written evenly over 0.3 s starting 50 ms before
# the next round is due, so two rounds of every bucket fall due while they arrive. Reports the
# lateness (kernel receive stamp - due instant) of the grants due in that window and of the whole
# drain, and bench/hiccup's machine stalls within each window (burst.json "machine_stalls").
#
# bots-*: see each scenario's comment; the bots files they served are kept in $OUT/*.toml.
#
# Environment:
#   BUILD    build directory (default: <repo>/build-bench, configured with
#            -DCMAKE_BUILD_TYPE=Release -DGQ_BUILD_TESTS=OFF)
#   BIN      the server binary (default: $BUILD/gateway-queue), e.g. an older build to compare
#   STARTUP_ROWS  journal rows seeded for the startup scenario (default 1000000)
#   PORT     first port to use (default 5810; scenario i uses PORT+i)
#   OUT      directory for logs and JSON results (default: a new mktemp -d)
#   KEEP=1   keep the journals and server logs
#   SERVER_PREFIX  a command the server runs under, which must exec it (same PID), e.g.
#            "chrt -f 10" for real-time scheduling (needs root or CAP_SYS_NICE)
#   QUIET=L  before each scenario wait (up to 15 min) until the 1-minute load average is below L;
#            timing on a shared 2-core machine is meaningless while other jobs compile
#   BENCH_JOURNAL  the journal backend: sqlite (default: QUEUE_DB is a file in the scenario's
#            directory) or postgresql: one throwaway PostgreSQL 15 cluster for the whole run
#            (initdb in a mktemp -d directory, 127.0.0.1 only at a port the kernel picks, its unix
#            socket in that directory, fsync on, trust for loopback; as root its tools run as user
#            postgres), a fresh database per server start, QUEUE_DB=postgresql://postgres@
#            127.0.0.1:PORT/DB; stopped (pg_ctl -m fast) and removed at exit (KEEP=1 keeps its
#            directory). Needs the postgresql package (PG_BIN, default
#            /usr/lib/postgresql/15/bin) and psql. Every scenario but startup runs on it
#            (startup's seeding and sizes are the SQLite file's).
#
# Results: one JSON line per scenario in $OUT/<scenario>.json, the load client's human summary
# in $OUT/<scenario>.txt, the journal-side numbers from sqlite3 (psql) in
# $OUT/<scenario>.journal.txt.
# Numbers and the machine they were measured on: docs/BENCHMARKS.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
BUILD="${BUILD:-$repo/build-bench}"
BIN="${BIN:-$BUILD/gateway-queue}"
LOAD="$BUILD/bench/load"
JBENCH="$BUILD/bench/journal_bench"
HICCUP="$BUILD/bench/hiccup"
ATTACK="$BUILD/bench/attack"
STARTUP="$BUILD/bench/startup"
HELD="$BUILD/bench/held_hangup"
PORT="${PORT:-5810}"
BENCH_JOURNAL="${BENCH_JOURNAL:-sqlite}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
case "$BENCH_JOURNAL" in
  sqlite) ;;
  postgresql)
    [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] ||
      { echo "run.sh: BENCH_JOURNAL=postgresql needs $PG_BIN/initdb and pg_ctl (apt-get install postgresql, or set PG_BIN)" >&2; exit 1; }
    command -v psql >/dev/null || { echo "run.sh: BENCH_JOURNAL=postgresql needs psql (apt-get install postgresql-client)" >&2; exit 1; }
    command -v python3 >/dev/null || { echo "run.sh: BENCH_JOURNAL=postgresql needs python3 (to pick a free port)" >&2; exit 1; }
    ;;
  *) echo "run.sh: BENCH_JOURNAL must be sqlite or postgresql, not '$BENCH_JOURNAL'" >&2; exit 2 ;;
esac
OUT="${OUT:-$(mktemp -d /tmp/gq-bench-results.XXXXXX)}"
mkdir -p "$OUT"

for f in "$BIN" "$LOAD" "$JBENCH" "$HICCUP" "$ATTACK" "$STARTUP" "$HELD"; do
  [[ -x "$f" ]] || { echo "run.sh: $f is missing; build with: cmake -S $repo -B $BUILD -DGQ_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD -j2" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "run.sh: needs the sqlite3 shell (apt-get install sqlite3)" >&2; exit 1; }
command -v curl >/dev/null || { echo "run.sh: needs curl" >&2; exit 1; }
command -v jq >/dev/null || { echo "run.sh: needs jq (apt-get install jq)" >&2; exit 1; }

SERVER_PID=""
SERVER_DIR=""
SERVER_DB=""
SERVER_PORT=""
PG_DIR=""
PG_PORT=""
PG_STARTED=0
PG_DATABASES=0
PG_DB_URI=""
failures=0

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "run.sh: server $SERVER_PID did not stop within 10 s of SIGTERM; sending SIGKILL" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

cleanup() {
  stop_server
  if [[ "${KEEP:-0}" != 1 && -n "$SERVER_DIR" ]]; then rm -rf "$SERVER_DIR"; fi
  pg_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# BENCH_JOURNAL=postgresql: the cluster's tools run as user postgres when this runs as root
# (initdb and pg_ctl refuse root); the cluster directory is then theirs.
pg_as() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start: the throwaway cluster of this run (see the header).
pg_start() {
  PG_DIR="$(mktemp -d /tmp/gq-bench-postgres.XXXXXX)"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$PG_DIR"; fi
  # The kernel's pick of a free loopback port, as the PostgreSQL test support does.
  PG_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  if ! pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >"$PG_DIR/initdb.log" 2>&1; then
    echo "run.sh: initdb failed:" >&2
    cat "$PG_DIR/initdb.log" >&2
    exit 1
  fi
  # Trust for the unix socket and loopback only (the cluster listens nowhere else).
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$PG_DIR/data/pg_hba.conf"
  PG_STARTED=1  # from here on pg_stop stops it: a start that timed out may have left it running
  if ! pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null; then
    echo "run.sh: the PostgreSQL cluster did not start; its log:" >&2
    cat "$PG_DIR/server.log" >&2
    exit 1
  fi
}

# pg_stop: stops the cluster (if started) and removes its directory unless KEEP=1.
pg_stop() {
  [[ -n "$PG_DIR" ]] || return 0
  if [[ $PG_STARTED -eq 1 ]]; then
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 ||
      echo "run.sh: pg_ctl stop failed for the cluster in $PG_DIR" >&2
    PG_STARTED=0
  fi
  if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$PG_DIR"; fi
  PG_DIR=""
}

# pg_new_database: a new empty database of the cluster; its URI in PG_DB_URI. (Not in a command
# substitution: the count of databases must survive.)
pg_new_database() {
  PG_DATABASES=$((PG_DATABASES + 1))
  local name="gq_bench_$PG_DATABASES"
  psql -X -q -v ON_ERROR_STOP=1 -d "postgresql://postgres@127.0.0.1:$PG_PORT/postgres" \
    -c "CREATE DATABASE $name"
  PG_DB_URI="postgresql://postgres@127.0.0.1:$PG_PORT/$name"
}

# journal_sql [--table] SQL: runs SQL on the current server's journal. --table: read-only, with a
# header (for the reports), else bare values (and writes, for seeding).
journal_sql() {
  local table=0
  if [[ "$1" == --table ]]; then table=1; shift; fi
  if [[ "$BENCH_JOURNAL" == postgresql ]]; then
    if [[ $table -eq 1 ]]; then
      psql -X -q -v ON_ERROR_STOP=1 -P footer=off -d "$SERVER_DB" -c "$1"
    else
      psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$SERVER_DB" -c "$1"
    fi
  elif [[ $table -eq 1 ]]; then
    sqlite3 -header -column "file:$SERVER_DB?mode=ro" "$1"
  else
    sqlite3 "$SERVER_DB" "$1"
  fi
}

# start_server NAME PORT VAR=VALUE... : a fresh journal, the server on 127.0.0.1:PORT.
start_server() {
  local name="$1"
  if [[ "${KEEP:-0}" != 1 && -n "$SERVER_DIR" ]]; then rm -rf "$SERVER_DIR"; fi
  SERVER_DIR="$(mktemp -d "/tmp/gq-bench-$name.XXXXXX")"
  if [[ "$BENCH_JOURNAL" == postgresql ]]; then
    pg_new_database
    SERVER_DB="$PG_DB_URI"
  else
    SERVER_DB="$SERVER_DIR/queue.db"
  fi
  restart_server "$@"
}

# restart_server NAME PORT VAR=VALUE... : the server on the journal of the last start_server.
restart_server() {
  local port="$2"
  shift 2
  SERVER_PORT="$port"
  if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then
    echo "run.sh: port $port is already in use; set PORT" >&2
    exit 1
  fi
  # shellcheck disable=SC2086 # SERVER_PREFIX is a command line, split on purpose
  env HOST=127.0.0.1 PORT="$port" QUEUE_DB="$SERVER_DB" QUEUE_DAILY_LIMIT=10000000 \
    QUEUE_LOG_LEVEL=warn "$@" ${SERVER_PREFIX:-} "$BIN" >>"$SERVER_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: the server did not answer /health; its log:" >&2
  cat "$SERVER_DIR/server.log" >&2
  exit 1
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# load NAME ARGS... : runs the load client against the current server; JSON to $OUT/NAME.json.
# bench/hiccup runs beside it and reports how late this machine woke a sleeping thread meanwhile
# (VM stalls of 5-20 ms happen here a few times a minute; they make grants late too).
load() {
  local name="$1"
  shift
  local rc=0
  "$HICCUP" >"$OUT/$name.hiccup.json" &
  local hiccup_pid=$!
  "$LOAD" --url "127.0.0.1:$SERVER_PORT" --server-pid "$SERVER_PID" --db "$SERVER_DB" \
    --label "$name" "$@" >"$OUT/$name.json" 2>"$OUT/$name.txt" || rc=$?
  kill -TERM "$hiccup_pid" 2>/dev/null || true
  wait "$hiccup_pid" 2>/dev/null || true
  cat "$OUT/$name.txt"
  echo "   machine wake-up lateness meanwhile (bench/hiccup): $(jq -c 'del(.stalls)' "$OUT/$name.hiccup.json")"
  if [[ $rc -ne 0 ]]; then
    echo "   (load exited $rc)"
    failures=$((failures + 1))
  fi
}

# journal_lateness NAME INTERVAL_MS [SEEDED] : from the journal with the sqlite3 shell (independent of the
# load client's arithmetic). released_at is the grant's due instant, stamped when its permit is
# committed ahead of time (or the commit time if that was later), so released_at spacing says
# when grants were *due*, not when they left: the gap minus the interval echoes how late the
# previous grant's write was acknowledged (whole ms). Send-time lateness is the load client's
# "lateness (kernel rx)"; its "journal due -> kernel send" is the per-grant delay after due.
journal_lateness() {
  local name="$1" interval="$2" seeded="${3:-0}" early="sum(late < 0)"
  # PostgreSQL does not sum booleans; the ids of a fresh database start at 1 as SQLite's do.
  [[ "$BENCH_JOURNAL" == postgresql ]] && early="count(*) FILTER (WHERE late < 0)"
  {
    echo "-- journal: rows, and due spacing excess = released_at - (previous released_at of the bucket + $interval)"
    echo "   (released_at = due instant; not a send time)"
    journal_sql --table "
      WITH l AS (
        SELECT released_at - LAG(released_at) OVER (PARTITION BY bot, bucket ORDER BY id) - $interval AS late
        FROM releases WHERE id > $seeded),
      s AS (SELECT late, ROW_NUMBER() OVER (ORDER BY late) AS r, COUNT(*) OVER () AS n
            FROM l WHERE late IS NOT NULL)
      SELECT (SELECT count(*) FROM releases WHERE id > $seeded) AS rows,
             count(*) AS gaps, min(late) AS min_ms,
             max(CASE WHEN r = (n + 1) / 2 THEN late END) AS p50_ms,
             max(CASE WHEN r = (n * 99 + 99) / 100 THEN late END) AS p99_ms,
             max(late) AS max_ms, $early AS early,
             round(avg(late), 3) AS mean_ms
      FROM s;"
    echo "-- journal: rounds (k-th grant of every bucket, round 1 = the prime round): spread of"
    echo "   released_at (due instants), and distinct released_at values (ms) in the round; since"
    echo "   released_at is the due time, not the commit time, this no longer counts commits"
    journal_sql --table "
      WITH k AS (SELECT released_at, ROW_NUMBER() OVER (PARTITION BY bot, bucket ORDER BY id) AS k
                 FROM releases WHERE id > $seeded),
      r AS (SELECT k, max(released_at) - min(released_at) AS spread,
                   count(DISTINCT released_at) AS due_ms FROM k GROUP BY k)
      SELECT count(*) AS rounds, min(spread) AS min_ms, max(spread) AS max_ms,
             round(avg(spread), 3) AS mean_ms, min(due_ms) AS min_due_ms,
             max(due_ms) AS max_due_ms, round(avg(due_ms), 1) AS mean_due_ms
      FROM r;"
  } >"$OUT/$name.journal.txt" 2>&1 || true
  sed 's/^/   /' "$OUT/$name.journal.txt"
}

machine() {
  echo "== machine: $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== binary: $BIN ($(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2))${SERVER_PREFIX:+, run under: $SERVER_PREFIX}"
  if [[ "$BENCH_JOURNAL" == postgresql ]]; then
    echo "== journal: PostgreSQL $("$PG_BIN/postgres" --version | sed 's/^postgres (PostgreSQL) //') on 127.0.0.1:$PG_PORT (fsync on, synchronous_commit on), a fresh database per server"
  fi
}

# ------------------------------------------------------------------------------------------
# (a) hold: 19,000 waiters, 16 buckets, an interval so long that only the first waiter of each
# bucket is granted. RSS growth per waiter, threads, CPU over 5 s; then 10 % hang up and
# /status must stop counting them within 1 s.
scenario_hold() {
  local port=$((PORT + 0))
  start_server hold "$port" QUEUE_MAX_CONCURRENCY=16 QUEUE_IDENTIFY_INTERVAL_MS=86400000 \
    QUEUE_MAX_WAITING=20000
  load hold --mode hold -n 19000 --buckets 16 --interval-ms 86400000 --cpu-window-s 5 \
    --settle-s 2 --hangup-fraction 0.1
  sleep 2
  echo "   server RSS 2 s after every client left: $(rss_kb "$SERVER_PID") KiB"
  stop_server
}

# (a2) hold-bare: the same 19,000 connections sending no request: what a bare connection costs,
# as against a waiter.
scenario_hold_bare() {
  local port=$((PORT + 5))
  # A long request timeout: bare connections are closed after it, and opening 19,000 takes a while.
  start_server hold-bare "$port" QUEUE_MAX_CONCURRENCY=16 QUEUE_IDENTIFY_INTERVAL_MS=86400000 \
    QUEUE_MAX_WAITING=20000 QUEUE_REQUEST_TIMEOUT_S=3600
  load hold-bare --mode hold --connect-only -n 19000 --buckets 16 --interval-ms 86400000 \
    --cpu-window-s 5 --settle-s 2
  stop_server
}

# (b) drain: 5,000 waiters over 64 buckets at 200 ms, queued behind a first round.
# Ideal drain: (ceil(5000/64) - 1) x 200 ms = 78 x 200 = 15.6 s.
scenario_drain() {
  local port=$((PORT + 1))
  start_server drain "$port" QUEUE_MAX_CONCURRENCY=64 QUEUE_IDENTIFY_INTERVAL_MS=200
  load drain --mode drain -n 5000 --buckets 64 --interval-ms 200 --prime --timeout-s 60
  journal_lateness drain 200
  stop_server
}

# (b2) drain-big: 16,000 waiters over 256 buckets at 250 ms (~1,000 grants/s, 256 buckets due
# together every round). Ideal: (ceil(16000/256) - 1) x 250 = 62 x 250 = 15.5 s.
scenario_drain_big() {
  local port=$((PORT + 2))
  start_server drain-big "$port" QUEUE_MAX_CONCURRENCY=256 QUEUE_IDENTIFY_INTERVAL_MS=250 \
    QUEUE_MAX_WAITING=20000
  load drain-big --mode drain -n 16000 --buckets 256 --interval-ms 250 --prime --timeout-s 60
  journal_lateness drain-big 250
  stop_server
}

# (c) tick: 256 buckets falling due at one instant. The journal says the previous process
# granted shards 0..255 (one per bucket) at one instant and stopped; the restarted server resumes
# every bucket at that instant + interval + its 100 ms recovery margin (src/pacing/recovery.hpp),
# 3 s from now. 5 waiters per bucket queue before then. The last 200 of that round must leave
# within 10 ms of the due instant, and each later round within 10 ms of its first response.
scenario_tick() {
  local port=$((PORT + 3)) interval=1000 margin=100
  local env=(QUEUE_MAX_CONCURRENCY=256 QUEUE_IDENTIFY_INTERVAL_MS=$interval)
  start_server tick "$port" "${env[@]}"
  stop_server
  local due=$(($(date +%s%3N) + 3000))
  journal_sql "
    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 255)
    INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms)
    SELECT $((due - interval - margin)), i, i, 256, 0 FROM s;"
  restart_server tick "$port" "${env[@]}"
  # Judged by the round goal, not by p99 lateness: 256 grants due at one instant leave one after
  # another, and the goal allows that round 10 ms.
  load tick --mode drain -n 1280 --buckets 256 --interval-ms $interval --due-at-unix-ms "$due" \
    --max-after-due-ms 10 --max-p99-ms -1 --journal-seeded 256 --timeout-s 30
  journal_lateness tick $interval 256
  stop_server
}

# (d) hangup: 1,000 waiters in 10 buckets at 200 ms; every other waiter of each bucket hangs up
# right after all are queued (before the first is due). No grant and no journal row for them,
# and they do not use their bucket's interval: ideal drain (50 - 1) x 200 ms = 9.8 s.
scenario_hangup() {
  local port=$((PORT + 4))
  start_server hangup "$port" QUEUE_MAX_CONCURRENCY=10 QUEUE_IDENTIFY_INTERVAL_MS=200
  load hangup --mode drain -n 1000 --buckets 10 --interval-ms 200 --prime --hangup-fraction 0.5 \
    --timeout-s 60
  journal_lateness hangup 200
  stop_server
}

# (d2) hangup-held: hang-ups in the held window (the head's grant is journaled, not yet sent).
# 64 buckets at 200 ms; per bucket and round, 3 waiters queue right after a grant, a 4th behind
# them, and the 3 hang up 50 ms before the next grant is due; 10 rounds. The 4th must be granted
# at that due instant: a hang-up must not cost a slot (lateness of about one interval).
scenario_hangup_held() {
  local port=$((PORT + 9)) rc=0
  start_server hangup-held "$port" QUEUE_MAX_CONCURRENCY=64 QUEUE_IDENTIFY_INTERVAL_MS=200
  "$HELD" --port "$port" --buckets 64 --interval-ms 200 --leavers 3 --rounds 10 \
    --hangup-before-due-ms 50 >"$OUT/hangup-held.json" 2>"$OUT/hangup-held.txt" || rc=$?
  sed 's/^/   /' "$OUT/hangup-held.txt"
  [[ $rc -eq 0 ]] || failures=$((failures + 1))
  echo "   journal: $(journal_sql 'SELECT count(*) FROM releases') rows" \
    "(64 first grants + 640 stayers' = 704 when no grant was lost or added)"
  stop_server
}

# (f) attack: the attack integration test's scenario, timed. 1,000 waiters over 16 buckets at
# 200 ms (ideal drain (63 - 1) x 200 = 12.4 s, behind a prime round) while bench/attack holds
# slowloris connections up to the server's file limit (2,048 here, so the cap is reached
# quickly), sends garbage and oversized requests, and churns connections; it probes /health every
# 0.5 s (accept latency). Lateness is the load client's, from kernel send times.
scenario_attack() {
  local port=$((PORT + 6)) files=2048 rc=0
  local saved_prefix="${SERVER_PREFIX:-}"
  SERVER_PREFIX="prlimit --nofile=$files:$files -- ${SERVER_PREFIX:-}"
  start_server attack "$port" QUEUE_MAX_CONCURRENCY=16 QUEUE_IDENTIFY_INTERVAL_MS=200
  SERVER_PREFIX="$saved_prefix"
  "$ATTACK" --port "$port" --slowloris "$files" --duration-s 22 >"$OUT/attack.attackers.json" \
    2>"$OUT/attack.attackers.txt" &
  local attack_pid=$!
  sleep 3  # the attack reaches the connection cap first
  load attack --mode drain -n 1000 --buckets 16 --interval-ms 200 --prime --timeout-s 60
  wait "$attack_pid" || rc=$?
  echo "   attackers and /health probes meanwhile: $(cat "$OUT/attack.attackers.json")"
  [[ $rc -eq 0 ]] || { echo "   (attack exited $rc: a probe waited over 1 s)"; failures=$((failures + 1)); }
  journal_lateness attack 200
  stop_server
}

# (e) journal: grants per second committed by the storage layer alone.
scenario_journal() {
  local rc=0 db=()
  if [[ "$BENCH_JOURNAL" == postgresql ]]; then
    pg_new_database
    db=(--db "$PG_DB_URI")
  fi
  "$JBENCH" "${db[@]}" --seconds 3 >"$OUT/journal.json" 2>"$OUT/journal.txt" || rc=$?
  sed 's/^/   /' "$OUT/journal.txt"
  [[ $rc -eq 0 ]] || failures=$((failures + 1))
}

# (g) startup: a restart on a journal of STARTUP_ROWS grants (1,000,000: 30 days of a bot that
# identifies every 2.6 s; 4,096 shards over 16 buckets, the newest an hour old, the oldest an
# hour past the 30-day retention so the first prune has work). Three restarts, each timed by
# bench/startup from the fork: the first /health 200, the first grant (a bucket that is free at
# once), the first /history's latency and the next one's. The file is in the page cache (it was
# just written), as after a crash-restart on a busy machine.
scenario_startup() {
  local port=$((PORT + 7)) rows="${STARTUP_ROWS:-1000000}" rc=0
  if [[ "$BENCH_JOURNAL" == postgresql ]]; then
    echo "   skipped: startup measures a SQLite journal file (BENCH_JOURNAL=sqlite)"
    return 0
  fi
  local env=(QUEUE_MAX_CONCURRENCY=16 QUEUE_IDENTIFY_INTERVAL_MS=5000)
  start_server startup "$port" "${env[@]}"
  stop_server
  local now span=$(((30 * 24 + 1) * 3600 * 1000))
  now=$(date +%s%3N)
  sqlite3 "$SERVER_DIR/queue.db" "
    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $rows - 1)
    INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms)
    SELECT $((now - 3600 * 1000 - span)) + i * $span / $rows, (i * 7919) % 4096,
           ((i * 7919) % 4096) % 16, 16, 5000 FROM s;"
  echo "   journal: $(sqlite3 "$SERVER_DIR/queue.db" 'SELECT count(*) FROM releases') rows," \
    "$(du -k "$SERVER_DIR/queue.db" | cut -f1) KiB"
  for run in 1 2 3; do
    env QUEUE_DB="$SERVER_DIR/queue.db" QUEUE_DAILY_LIMIT=10000000 QUEUE_LOG_LEVEL=warn \
      "${env[@]}" "$STARTUP" --bin "$BIN" --port "$port" --shard "$run" \
      >>"$OUT/startup.json" 2>"$OUT/startup.$run.txt" || rc=$?
    sed 's/^/   /' "$OUT/startup.$run.txt"
  done
  [[ $rc -eq 0 ]] || failures=$((failures + 1))
}

# bots_file FIRST COUNT MAX_CONCURRENCY: on stdout, the bots file of the bots
# bFIRST..b(FIRST+COUNT-1), each with that max_concurrency (configured limits, no Discord
# token, no auth token).
bots_file() {
  awk -v first="$1" -v count="$2" -v mc="$3" 'BEGIN {
    for (i = first; i < first + count; i++) printf "[[bot]]\nname = \"b%d\"\nmax_concurrency = %d\n\n", i, mc
  }'
}

# grant_each_bot PORT FIRST COUNT CODES: one queue request per bot (shard 0), 64 at a time;
# prints how many were granted, and the count of each status code into the file CODES.
grant_each_bot() {
  local args=()
  # -o applies to one URL: one per URL.
  for ((i = $2; i < $2 + $3; i++)); do args+=(-o /dev/null "http://127.0.0.1:$1/bots/b$i/?shard=0"); done
  curl -s --no-progress-meter --parallel --parallel-max 64 -w '%{http_code}\n' "${args[@]}" |
    sort | uniq -c >"$4" || true
  awk '$2 == 200 {n = $1} END {print n + 0}' "$4"
}

# (i) bots-idle: what an idle bot costs with the real binary. The server with a bots file of 1
# bot, then of 1,000 bots (b0..b999, max_concurrency 16 each, interval 1 s): RSS 2 s after
# /health, and again after every bot was granted once (its ledger books and one shard's grant
# exist) and 3 s more than the interval passed, so its buckets went back to rest. Per idle bot:
# the difference between the two servers / 999. Goal: at most 16 KiB.
scenario_bots_idle() {
  local port=$((PORT + 10)) interval=1000 n started granted rested threads
  local -A at_start at_rest
  for n in 1 1000; do
    bots_file 0 "$n" 16 >"$OUT/bots-idle.$n.toml"
    start_server bots-idle "$port" QUEUE_BOTS_FILE="$OUT/bots-idle.$n.toml" \
      QUEUE_IDENTIFY_INTERVAL_MS=$interval
    sleep 2
    started=$(rss_kb "$SERVER_PID")
    granted=$(grant_each_bot "$port" 0 "$n" "$OUT/bots-idle.$n.codes")
    sleep $((interval / 1000 + 3))
    rested=$(rss_kb "$SERVER_PID")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status")
    echo "   $n bot(s): RSS $started KiB after start; $granted of $n bots granted once;" \
      "RSS $rested KiB once their buckets rested; $threads threads"
    [[ $granted -eq $n ]] || failures=$((failures + 1))
    at_start[$n]=$started
    at_rest[$n]=$rested
    stop_server
  done
  jq -nc --argjson s1 "${at_start[1]}" --argjson s1000 "${at_start[1000]}" \
    --argjson r1 "${at_rest[1]}" --argjson r1000 "${at_rest[1000]}" '{
      label: "bots-idle", rss_kib: {one_bot: {start: $s1, rested: $r1},
                                    thousand_bots: {start: $s1000, rested: $r1000}},
      kib_per_idle_bot: {start: (($s1000 - $s1) / 999), rested: (($r1000 - $r1) / 999)}}' \
    | tee "$OUT/bots-idle.json" | sed 's/^/   /'
}

# (j) bots-hold: 19,000 waiters spread over 1,000 bots (b0..b999, 16 buckets each: 16,000
# lanes: 19 waiters per bot over its 16 buckets), against the same load on one bot of 16 buckets
# (as the hold scenario). Interval one day; a prime round grants every bucket once, then the
# waiters wait; RSS growth per waiter counted from after the prime round.
scenario_bots_hold() {
  local port=$((PORT + 11))
  local env=(QUEUE_MAX_WAITING=40000 QUEUE_REQUEST_TIMEOUT_S=3600 QUEUE_IDENTIFY_INTERVAL_MS=86400000)
  bots_file 0 1000 16 >"$OUT/bots-hold.1000.toml"
  bots_file 0 1 16 >"$OUT/bots-hold.1.toml"
  for n in 1 1000; do
    start_server "bots-hold-$n" "$port" "${env[@]}" QUEUE_BOTS_FILE="$OUT/bots-hold.$n.toml"
    load "bots-hold-$n" --mode hold -n 19000 --bots "$n" --buckets 16 --prime \
      --interval-ms 86400000 --cpu-window-s 5 --settle-s 2
    stop_server
  done
}

# (k) bots-load: the same 19,000 waiters over 1,000 bots granted at a 5 s interval behind a prime
# round (one or two per lane), against one bot of 16,000 buckets, so that the lanes and the
# grants' timing are the same. Lateness from kernel receive stamps (per lane: previous grant +
# interval) and from the journal (kernel receive stamp - released_at, the due instant).
scenario_bots_load() {
  local port=$((PORT + 14))
  local env=(QUEUE_MAX_WAITING=40000 QUEUE_REQUEST_TIMEOUT_S=3600)
  bots_file 0 1000 16 >"$OUT/bots-load.1000.toml"
  bots_file 0 1 16000 >"$OUT/bots-load.1x16000.toml"
  start_server bots-load-drain-1 "$port" "${env[@]}" \
    QUEUE_BOTS_FILE="$OUT/bots-load.1x16000.toml" QUEUE_IDENTIFY_INTERVAL_MS=5000
  load bots-load-drain-1 --mode drain -n 19000 --bots 1 --buckets 16000 --prime \
    --interval-ms 5000 --max-p99-ms -1 --timeout-s 120
  journal_lateness bots-load-drain-1 5000
  stop_server
  start_server bots-load-drain-1000 "$port" "${env[@]}" \
    QUEUE_BOTS_FILE="$OUT/bots-load.1000.toml" QUEUE_IDENTIFY_INTERVAL_MS=5000
  load bots-load-drain-1000 --mode drain -n 19000 --bots 1000 --buckets 16 --prime \
    --interval-ms 5000 --max-p99-ms -1 --timeout-s 120
  journal_lateness bots-load-drain-1000 5000
  stop_server
}

# (l) bots-startup: the startup scenario with 1,000 bots: a journal of STARTUP_ROWS grants spread
# over the bots b0..b999 (row i: bot b(i % 1000), shards and instants as in startup, bucket
# shard % 16), the server restarted with their bots file (16 buckets each). Three restarts
# timed by bench/startup from the fork, each asking a different bot for its first grant.
# Goal: /health and the first grant within 300 ms.
scenario_bots_startup() {
  local port=$((PORT + 12)) rows="${STARTUP_ROWS:-1000000}" rc=0
  if [[ "$BENCH_JOURNAL" == postgresql ]]; then
    echo "   skipped: bots-startup measures a SQLite journal file (BENCH_JOURNAL=sqlite)"
    return 0
  fi
  bots_file 0 1000 16 >"$OUT/bots-startup.toml"
  local env=(QUEUE_BOTS_FILE="$OUT/bots-startup.toml" QUEUE_IDENTIFY_INTERVAL_MS=5000)
  start_server bots-startup "$port" "${env[@]}"
  stop_server
  local now span=$(((30 * 24 + 1) * 3600 * 1000))
  now=$(date +%s%3N)
  sqlite3 "$SERVER_DIR/queue.db" "
    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $rows - 1)
    INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms, bot)
    SELECT $((now - 3600 * 1000 - span)) + i * $span / $rows, (i * 7919) % 4096,
           ((i * 7919) % 4096) % 16, 16, 5000, 'b' || (i % 1000) FROM s;"
  echo "   journal: $(sqlite3 "$SERVER_DIR/queue.db" 'SELECT count(*) FROM releases') rows of" \
    "$(sqlite3 "$SERVER_DIR/queue.db" 'SELECT count(DISTINCT bot) FROM releases') bots," \
    "$(du -k "$SERVER_DIR/queue.db" | cut -f1) KiB"
  for run in 1 2 3; do
    env QUEUE_DB="$SERVER_DIR/queue.db" QUEUE_DAILY_LIMIT=10000000 QUEUE_LOG_LEVEL=warn \
      "${env[@]}" "$STARTUP" --bin "$BIN" --port "$port" --shard "$run" --bot "b$((run * 333))" \
      >>"$OUT/bots-startup.json" 2>"$OUT/bots-startup.$run.txt" || rc=$?
    sed 's/^/   /' "$OUT/bots-startup.$run.txt"
  done
  [[ $rc -eq 0 ]] || failures=$((failures + 1))
}

# (m) bots-reload: bot b0 (16 buckets, 200 ms) drains 1,000 waiters behind a prime round (12.4 s)
# while 499 other bots (b1..b499) idle. 6 s into the drain the bots file is replaced by one that
# keeps b0 and has b500..b999 instead (499 removed, 500 added) and the server gets SIGHUP. The
# lateness of b0's grants due within 1 s either side of the SIGHUP (kernel receive stamp -
# journaled due instant, and kernel receive stamp - (previous grant of the bucket + interval)),
# against the rest of the drain.
scenario_bots_reload() {
  local port=$((PORT + 13)) live="$OUT/bots-reload.toml" at
  bots_file 1 499 16 >"$OUT/bots-reload.before.toml"
  bots_file 500 500 16 >"$OUT/bots-reload.after.toml"
  # b0 first, 16 buckets, in both.
  { bots_file 0 1 16; cat "$OUT/bots-reload.before.toml"; } >"$live.tmp"
  mv "$live.tmp" "$live"
  start_server bots-reload "$port" QUEUE_BOTS_FILE="$live" QUEUE_IDENTIFY_INTERVAL_MS=200 \
    QUEUE_LOG_LEVEL=info
  (
    sleep 6
    { bots_file 0 1 16; cat "$OUT/bots-reload.after.toml"; } >"$live.tmp"
    mv "$live.tmp" "$live"
    date +%s%3N >"$OUT/bots-reload.at"
    kill -HUP "$SERVER_PID"
  ) &
  local reloader=$!
  load bots-reload --mode drain -n 1000 --bots 1 --buckets 16 --interval-ms 200 --prime \
    --max-p99-ms -1 --timeout-s 60 --grants-csv "$OUT/bots-reload.grants.csv"
  wait "$reloader" || true
  at=$(cat "$OUT/bots-reload.at")
  # The grants CSV beside the journal: per grant the due instant (released_at) and the kernel
  # receive stamp; "near" = due within 1 s of the SIGHUP.
  sqlite3 :memory: >"$OUT/bots-reload.window.json" <<SQL || true
.mode csv
.import '$OUT/bots-reload.grants.csv' g
ATTACH 'file:$SERVER_DB?mode=ro' AS j;
.mode list
    WITH x AS (
      SELECT CAST(g.rx_kernel_ns AS INTEGER) / 1e6 - r.released_at AS due_to_rx,
             (CAST(g.rx_kernel_ns AS INTEGER) - LAG(CAST(g.rx_kernel_ns AS INTEGER)) OVER (
                PARTITION BY g.bucket ORDER BY CAST(g.rx_kernel_ns AS INTEGER))) / 1e6 - 200 AS gap,
             g.prime = '1' AS prime,
             abs(r.released_at - $at) <= 1000 AS near
      FROM g JOIN j.releases r ON r.bot = 'b0' AND r.shard = CAST(g.shard AS INTEGER)
      WHERE g.status = '200'),
    w AS (SELECT near, due_to_rx, gap,
                 ROW_NUMBER() OVER (PARTITION BY near ORDER BY due_to_rx) AS a,
                 ROW_NUMBER() OVER (PARTITION BY near ORDER BY gap) AS b,
                 COUNT(*) OVER (PARTITION BY near) AS n
          FROM x WHERE NOT prime AND gap IS NOT NULL)
    SELECT json_group_object(CASE WHEN near THEN 'within_1s_of_reload' ELSE 'rest_of_drain' END,
             json(v)) FROM (
      SELECT near, json_object('grants', max(n),
        'due_to_rx_ms', json_object('p50', round(max(CASE WHEN a = (n + 1) / 2 THEN due_to_rx END), 3),
                                    'p99', round(max(CASE WHEN a = (n * 99 + 99) / 100 THEN due_to_rx END), 3),
                                    'max', round(max(due_to_rx), 3)),
        'gap_late_ms', json_object('p50', round(max(CASE WHEN b = (n + 1) / 2 THEN gap END), 3),
                                   'p99', round(max(CASE WHEN b = (n * 99 + 99) / 100 THEN gap END), 3),
                                   'max', round(max(gap), 3))) AS v
      FROM w GROUP BY near);
SQL
  echo "   b0's grants near the reload vs the rest: $(cat "$OUT/bots-reload.window.json")"
  journal_lateness bots-reload 200
  # After the journal's figures: a grant of b999 adds a row.
  echo "   SIGHUP at $at; server log: $(grep -c 'removed by the reload' "$SERVER_DIR/server.log") bots" \
    "removed; b999 now answers $(curl -s -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$port/bots/b999/?shard=0"), b1 $(curl -s -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$port/bots/b1/?shard=0")"
  stop_server
}

# (h) burst: see the header. The first 19,000 requests arrive within 0.3 s while two rounds of
# every bucket fall due; goal for the grants due meanwhile: p99 <= 1 ms, max <= 5 ms, outside
# machine stalls, which are added to burst.json from bench/hiccup for the same windows.
scenario_burst() {
  local port=$((PORT + 8))
  start_server burst "$port" QUEUE_MAX_CONCURRENCY=64 QUEUE_IDENTIFY_INTERVAL_MS=200 \
    QUEUE_MAX_WAITING=20000 QUEUE_REQUEST_TIMEOUT_S=3600
  load burst --mode drain -n 19000 --buckets 64 --interval-ms 200 --prime --burst-s 0.3 \
    --burst-lead-ms 50 --max-p99-ms -1 --timeout-s 120
  # A stall [wake-up - late, wake-up] counts for a window it overlaps.
  local stalls
  stalls="$(jq -c --slurpfile h "$OUT/burst.hiccup.json" '
    def within($w): [$h[0].stalls[] | select(.[0] >= $w[0] and .[0] - .[1] <= $w[1]) | .[1]];
    def summary($w): within($w) as $s |
      {max_ms: ($s | max // 0), over_1ms: ($s | length), over_5ms: ([$s[] | select(. > 5)] | length)};
    if .burst then {burst_window: summary(.burst.window_unix_ms),
                    drain_window: summary(.burst.drain_window_unix_ms)} else null end' \
    "$OUT/burst.json")" || stalls=null
  jq -c --argjson s "$stalls" '. + {machine_stalls: $s}' "$OUT/burst.json" >"$OUT/burst.json.tmp" &&
    mv "$OUT/burst.json.tmp" "$OUT/burst.json"
  echo "   machine stalls (bench/hiccup) in the burst window / the whole drain: $stalls"
  journal_lateness burst 200
  stop_server
}

wait_quiet() {
  [[ -n "${QUIET:-}" ]] || return 0
  local deadline=$((SECONDS + 900))
  while awk -v q="$QUIET" '{exit !($1 >= q)}' /proc/loadavg; do
    if [[ $SECONDS -ge $deadline ]]; then
      echo "   (load average still $(cut -d' ' -f1 /proc/loadavg) >= $QUIET after 15 min; running anyway)"
      return 0
    fi
    sleep 10
  done
}

scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] ||
  scenarios=(hold hold-bare drain drain-big tick hangup hangup-held journal attack startup burst
    bots-idle bots-hold bots-load bots-startup bots-reload)
[[ "$BENCH_JOURNAL" == postgresql ]] && pg_start
machine | tee "$OUT/machine.txt"
for s in "${scenarios[@]}"; do
  wait_quiet
  echo "== scenario $s ($(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg))"
  case "$s" in
    hold) scenario_hold ;;
    hold-bare) scenario_hold_bare ;;
    drain) scenario_drain ;;
    drain-big) scenario_drain_big ;;
    tick) scenario_tick ;;
    hangup) scenario_hangup ;;
    hangup-held) scenario_hangup_held ;;
    journal) scenario_journal ;;
    attack) scenario_attack ;;
    startup) scenario_startup ;;
    burst) scenario_burst ;;
    bots-idle) scenario_bots_idle ;;
    bots-hold) scenario_bots_hold ;;
    bots-load) scenario_bots_load ;;
    bots-startup) scenario_bots_startup ;;
    bots-reload) scenario_bots_reload ;;
    *) echo "run.sh: unknown scenario $s" >&2; exit 2 ;;
  esac
done
echo "== results in $OUT; $failures scenario(s) reported problems"
[[ $failures -eq 0 ]]
