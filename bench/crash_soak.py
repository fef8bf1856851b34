#!/usr/bin/python3
"""Crash soak: kill -9 the server at random moments under load, restart it, many times.

Shard clients keep queue requests waiting the whole time (each request a new shard id, so a
journal row matches the 200 it produced); the server is started on one journal, SIGKILLed after
a random delay (also during start-up), and started again, `--kills` times. Afterwards:
  - interval violations: within a bucket, two 200s received (kernel receive timestamps,
    SO_TIMESTAMPNS, i.e. when the server sent them on loopback) closer than the interval,
    across restarts included;
  - every 200 a client saw has its journal row (same shard, released_at near the receive time);
  - PRAGMA integrity_check is "ok" after every kill and at the end.
Prints one JSON object with the figures; exits 1 if any check failed. Bounded by --max-seconds
(stops killing then and reports what it has). Numbers: docs/BENCHMARKS.md.

Usage: bench/crash_soak.py --binary build/gateway-queue [--kills 1000] [--max-seconds 1500]
"""

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value; Python may not name it


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--kills", type=int, default=1000)
    p.add_argument("--max-seconds", type=float, default=1500)
    p.add_argument("--interval-ms", type=int, default=100)
    p.add_argument("--buckets", type=int, default=4)
    p.add_argument("--clients-per-bucket", type=int, default=4)
    p.add_argument("--max-uptime-ms", type=int, default=1000,
                   help="each run is killed after a uniform random 0..this many ms from spawn")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the journal and server log")
    return p.parse_args()


class grants_log:
    """The 200s clients received: (shard, bucket, receive time in unix ns)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []
        self.other_statuses = {}
        self.next_shard = 0
        self.run = 0  # which server process is up (0, 1, ...): a 200 belongs to the run it arrived in

    def new_shard(self, bucket, buckets):
        with self.lock:
            # Shard ids that are unique for the whole soak and fall in the client's bucket.
            shard = self.next_shard * buckets + bucket
            self.next_shard += 1
            return shard

    def add(self, shard, bucket, received_ns):
        with self.lock:
            self.rows.append((shard, bucket, received_ns, self.run))

    def next_run(self):
        with self.lock:
            self.run += 1

    def count_status(self, status):
        with self.lock:
            self.other_statuses[status] = self.other_statuses.get(status, 0) + 1


def one_request(port, shard):
    """One queue request; returns (status, kernel receive time ns) or None if the connection
    failed or closed without an answer (the server was killed)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.settimeout(30)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET /?shard={shard} HTTP/1.1\r\nHost: q\r\nConnection: close\r\n\r\n".encode())
        data = b""
        first_ns = None
        while b"\r\n\r\n" not in data:
            chunk, ancdata, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16))
            if not chunk:
                return None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and first_ns is None:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    first_ns = sec * 1_000_000_000 + nsec
            data += chunk
        status = int(data.split(b" ", 2)[1])
        return status, first_ns if first_ns is not None else time.time_ns()
    except (OSError, ValueError, IndexError):
        return None
    finally:
        s.close()


def client_loop(port, bucket, buckets, log, stop):
    while not stop.is_set():
        shard = log.new_shard(bucket, buckets)
        result = one_request(port, shard)
        if result is None:
            time.sleep(0.002)  # server down or killed: try again with a new shard id
            continue
        status, received_ns = result
        if status == 200:
            log.add(shard, bucket, received_ns)
        else:
            log.count_status(status)
            time.sleep(0.01)


def healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


def integrity(db_path):
    if not os.path.exists(db_path):
        return "ok"  # killed before the journal was created
    con = sqlite3.connect(db_path, timeout=10)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    args = parse_args()
    args.binary = os.path.abspath(args.binary)
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="gq-crash-soak-")
    db_path = os.path.join(work, "gateway-queue.db")
    log_path = os.path.join(work, "server.log")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not (k in ("HOST", "PORT") or k.startswith("QUEUE_") or k.startswith("DISCORD_"))}
    env.update({
        "HOST": "127.0.0.1", "PORT": str(port), "QUEUE_DB": db_path,
        "QUEUE_IDENTIFY_INTERVAL_MS": str(args.interval_ms),
        "QUEUE_MAX_CONCURRENCY": str(args.buckets), "QUEUE_DAILY_LIMIT": "10000000",
        "QUEUE_LOG_LEVEL": "warn",
    })

    log = grants_log()
    stop = threading.Event()
    threads = [threading.Thread(target=client_loop, args=(port, b, args.buckets, log, stop),
                                daemon=True)
               for b in range(args.buckets) for _ in range(args.clients_per_bucket)]
    for t in threads:
        t.start()

    started = time.monotonic()
    kills = 0
    failures = []
    served_runs = 0
    server_log = open(log_path, "ab")
    proc = None
    try:
        while kills < args.kills and time.monotonic() - started < args.max_seconds:
            proc = subprocess.Popen([args.binary], env=env, cwd=work, stdin=subprocess.DEVNULL,
                                    stdout=server_log, stderr=server_log)
            uptime = rng.uniform(0, args.max_uptime_ms / 1000)
            deadline = time.monotonic() + uptime
            served = False
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if not served and healthy(port):
                    served = True
                time.sleep(0.005)
            if proc.poll() is not None:
                print(f"server exited by itself with {proc.returncode}", file=sys.stderr)
                failures.append(f"run {kills}: exit {proc.returncode}")
                proc = None
                break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            proc = None
            log.next_run()
            kills += 1
            served_runs += served
            check = integrity(db_path)
            if check != "ok":
                failures.append(f"after kill {kills}: {check}")
            if kills % 50 == 0:
                print(f"{kills} kills, {len(log.rows)} grants seen, "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)

        # One last clean run so clients drain, then a graceful stop.
        proc = subprocess.Popen([args.binary], env=env, cwd=work, stdin=subprocess.DEVNULL,
                                stdout=server_log, stderr=server_log)
        time.sleep(2)
        stop.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        proc = None
        for t in threads:
            t.join(timeout=35)
    finally:
        stop.set()
        if proc is not None:
            proc.kill()
            proc.wait()
        server_log.close()
    elapsed = time.monotonic() - started

    final_integrity = integrity(db_path)
    con = sqlite3.connect(db_path)
    journal = {}
    for shard, released_at in con.execute("SELECT shard, released_at FROM releases"):
        journal.setdefault(shard, []).append(released_at)
    journal_rows = con.execute("SELECT count(*) FROM releases").fetchone()[0]
    con.close()

    # Interval violations at the client, per bucket, in receive order.
    interval_ns = args.interval_ms * 1_000_000
    violations = []
    min_gap_ms = None
    by_bucket = {}
    min_gap_across_ms = None
    for shard, bucket, received_ns, run in log.rows:
        by_bucket.setdefault(bucket, []).append((received_ns, shard, run))
    for bucket, rows in by_bucket.items():
        rows.sort()
        for (a, sa, ra), (b, sb, rb) in zip(rows, rows[1:]):
            gap_ms = (b - a) / 1e6
            min_gap_ms = gap_ms if min_gap_ms is None else min(min_gap_ms, gap_ms)
            if ra != rb:
                min_gap_across_ms = (gap_ms if min_gap_across_ms is None
                                     else min(min_gap_across_ms, gap_ms))
            if b - a < interval_ns:
                violations.append({"bucket": bucket, "shards": [sa, sb], "gap_ms": gap_ms,
                                   "runs": [ra, rb], "journal": [journal.get(sa), journal.get(sb)],
                                   "received_ms": [a / 1e6, b / 1e6]})

    # Every 200 seen has its row: same shard, released_at (the due instant, stamped before the
    # 200 is sent) no later than the receive time and not long before it.
    missing = []
    for shard, bucket, received_ns, _ in log.rows:
        received_ms = received_ns / 1e6
        rows = journal.get(shard, [])
        if not any(received_ms - 10_000 <= r <= received_ms + 5 for r in rows):
            missing.append({"shard": shard, "received_ms": received_ms, "journal": rows})

    result = {
        "kills": kills, "runs_that_served": served_runs, "elapsed_s": round(elapsed, 1),
        "interval_ms": args.interval_ms, "buckets": args.buckets,
        "clients": len(threads), "grants_seen": len(log.rows), "journal_rows": journal_rows,
        "other_statuses": log.other_statuses, "interval_violations": len(violations),
        "min_gap_ms": round(min_gap_ms, 3) if min_gap_ms is not None else None,
        "min_gap_across_restart_ms":
            round(min_gap_across_ms, 3) if min_gap_across_ms is not None else None,
        "seen_without_journal_row": len(missing),
        "failures": failures, "final_integrity": final_integrity,
        "examples": {"violations": violations[:5], "missing": missing[:5]},
    }
    print(json.dumps(result))
    ok = (not violations and not missing and not failures and final_integrity == "ok")
    if args.keep or not ok:
        print(f"journal and server log kept in {work}", file=sys.stderr)
    else:
        for name in os.listdir(work):
            os.remove(os.path.join(work, name))
        os.rmdir(work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
