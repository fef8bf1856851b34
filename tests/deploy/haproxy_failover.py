"""Runs deploy/haproxy/haproxy.cfg, as it is, in front of two real queues on one PostgreSQL
journal, kills the active one with SIGKILL and checks what the shards saw through HAProxy:
- while the active lives, every answer is a 2xx (HAProxy never sends a shard to the standby);
- a shard that hangs up through HAProxy hangs up at the queue (its waiter dropped, no grant);
- after the kill every refusal carries Retry-After, and grants resume through the same address;
- within each bucket no two grants are closer than the interval, as the shards received them and
  in the journal's own timestamps; the journal holds exactly one grant per 2xx (none doubled).
It prints the time from the kill to the first grant through HAProxy.

Only addresses change: the `bind` line gets a loopback port, the `server` lines the queues' ports
in order, the standby's first: with `balance first`, a check that let standbys pass would send
every shard there. Extra `server` lines get a port nothing listens on.

The cluster is ctest's fixture (postgres.cluster_start): GQ_POSTGRES_CLUSTER_FILE holds "DIR PORT";
user postgres is trusted over 127.0.0.1. Each run uses a database of its own.

usage: haproxy_failover.py HAPROXY_CFG GATEWAY_QUEUE_BINARY
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from loopback import free_port, get, stop_process, test_database  # noqa: E402

INTERVAL_S = 1.0          # QUEUE_IDENTIFY_INTERVAL_MS
BUCKETS = 2               # QUEUE_MAX_CONCURRENCY
SHARDS = 4                # two per bucket, so each bucket always has a waiter
CLIENT_SLACK_S = 0.05     # a client thread may see a grant this late (scheduling, GIL)


class Failure(Exception):
    pass


def seconds(value):
    """An HAProxy time (default unit ms) in seconds."""
    number, unit = re.fullmatch(r"(\d+)(us|ms|s|m|h|d)?", value).groups()
    return int(number) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}[
        unit or "ms"]


def check_recipe(text):
    """What the failover run cannot provoke: retries, and timeouts that cut a long wait."""
    lines = [line.split("#")[0].split() for line in text.splitlines()]
    if ["retries", "0"] not in lines or ["option", "redispatch"] in lines or any(
            words[:1] == ["retry-on"] for words in lines):
        raise Failure("the recipe must say `retries 0`, without redispatch or retry-on: a "
                      "re-sent queue request may spend a second grant")
    for which in ("client", "server"):
        values = [seconds(w[2]) for w in lines if w[:2] == ["timeout", which] and len(w) > 2]
        if not values or min(values) < 24 * 3600:
            raise Failure(f"timeout {which} must be at least 24h: a shard may wait until the "
                          "daily reset, and HAProxy would cut it with a 504")


def render(text, listen_port, server_ports):
    """The recipe with only the bind address and the server addresses replaced."""
    binds = servers = 0
    out = []
    for line in text.splitlines():
        m = re.match(r"(\s*bind\s+)(\S+)(.*)", line)
        if m:
            binds += 1
            line = f"{m[1]}127.0.0.1:{listen_port}{m[3]}"
        m = re.match(r"(\s*server\s+\S+\s+)(\S+)(.*)", line)
        if m:
            port = server_ports[servers] if servers < len(server_ports) else free_port()
            servers += 1
            line = f"{m[1]}127.0.0.1:{port}{m[3]}"
        out.append(line)
    if binds != 1 or servers < len(server_ports):
        raise Failure(f"the recipe should have one bind line and at least {len(server_ports)} "
                      f"server lines; found {binds} and {servers}")
    return "\n".join(out) + "\n"


class Shard(threading.Thread):
    """A shard as the real clients behave: asks, waits as long as it takes, counts only a 2xx
    as a grant; on anything else waits Retry-After (1 s without one) and asks again. After a
    grant it asks again at once (a reconnect), until told to stop."""

    def __init__(self, shard, port, stop, answers, lock):
        super().__init__(daemon=True)
        self.shard, self.port, self.stop, self.answers, self.lock = shard, port, stop, answers, lock

    def run(self):
        while not self.stop.is_set():
            status, retry_after = get(self.port, f"/?shard={self.shard}", timeout=60)
            with self.lock:
                self.answers.append((time.monotonic(), self.shard, status, retry_after))
            if not 200 <= status < 300:
                self.stop.wait(float(retry_after) if retry_after and retry_after.isdigit() else 1)


def wait_for(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.01)
    raise Failure(f"timed out after {timeout} s waiting for {what}")


def main(recipe_path, binary):
    recipe = Path(recipe_path).read_text()
    check_recipe(recipe)
    if shutil.which("haproxy") is None:
        raise Failure("haproxy is not installed (scripts/setup.sh --tests installs it)")
    database = test_database("gq_haproxy")
    uri = database.uri

    tmp = Path(tempfile.mkdtemp(prefix="gq-haproxy-"))
    processes, logs = [], []
    stop = threading.Event()
    try:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("QUEUE_", "DISCORD_")) and k not in ("HOST", "PORT")}
        env.update(HOST="127.0.0.1", QUEUE_DB=uri, QUEUE_MAX_CONCURRENCY=str(BUCKETS),
                   QUEUE_IDENTIFY_INTERVAL_MS=str(int(INTERVAL_S * 1000)))
        queues = []
        for name in ("a", "b"):
            port = free_port()
            log = tmp / f"queue-{name}.log"
            logs.append(log)
            process = subprocess.Popen([binary], env=dict(env, PORT=str(port)),
                                       stdout=log.open("w"), stderr=subprocess.STDOUT)
            processes.append(process)
            queues.append((port, process))
        wait_for("both queues to serve /health", lambda: all(
            get(p, "/health")[0] == 200 for p, _ in queues), 15)
        wait_for("exactly one queue to be ready", lambda: sorted(
            get(p, "/ready")[0] for p, _ in queues) == [200, 503], 15)
        active, standby = sorted(queues, key=lambda q: get(q[0], "/ready")[0] != 200)

        front = free_port()
        cfg = tmp / "haproxy.cfg"
        cfg.write_text(render(recipe, front, [standby[0], active[0]]))
        logs.append(tmp / "haproxy.log")
        haproxy = subprocess.Popen(["haproxy", "-f", str(cfg), "-db"],
                                   stdout=logs[-1].open("w"), stderr=subprocess.STDOUT)
        processes.append(haproxy)

        def accepts():
            try:
                socket.create_connection(("127.0.0.1", front), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for("HAProxy to listen", accepts, 10)
        # HAProxy starts with every server up until its first check (every 200 ms) says no; the
        # standby is the first server line, so /ready through HAProxy is 200 only once the
        # standby is marked down. Three in a row: its check has settled.
        in_a_row = [0]

        def settled():
            in_a_row[0] = in_a_row[0] + 1 if get(front, "/ready")[0] == 200 else 0
            return in_a_row[0] >= 3
        wait_for("HAProxy to route to the active queue only", settled, 10)

        answers, lock = [], threading.Lock()
        shards = [Shard(n, front, stop, answers, lock) for n in range(SHARDS)]
        for shard in shards:
            shard.start()

        def grants(since=0.0):
            with lock:
                return [a for a in answers if 200 <= a[2] < 300 and a[0] > since]

        def per_bucket(since=0.0):
            return [len([a for a in grants(since) if a[1] % BUCKETS == b]) for b in range(BUCKETS)]

        # While the active queue lives, only it may answer: a standby's 503 means HAProxy let it
        # pass the check. Checked at every step before the kill, so the run stops at the first.
        def only_grants(until=float("inf")):
            with lock:
                refused = [a for a in answers if not 200 <= a[2] < 300 and a[0] <= until]
            if refused:
                raise Failure(f"{len(refused)} answers other than 2xx while the active queue was "
                              f"alive (statuses {sorted({a[2] for a in refused})}): HAProxy sent "
                              "shards to the standby; its check must be GET /ready")
            return True
        wait_for("three grants per bucket through HAProxy",
                 lambda: only_grants() and min(per_bucket()) >= 3, 15)

        # Kill when every bucket's last grant left under 0.6 s ago: its next is then due over
        # 0.4 s later and not yet journaled (a grant is committed up to 100 ms before it is due;
        # one journaled and never sent is counted by design, and would blur the count below).
        def quiet():
            now = time.monotonic()
            return all(any(now - a[0] < 0.6 for a in grants() if a[1] % BUCKETS == b)
                       for b in range(BUCKETS))
        wait_for("a moment with no grant due within 0.4 s", lambda: only_grants() and quiet(), 5)
        active[1].kill()
        killed = time.monotonic()
        killed_wall_ms = time.time() * 1000
        active[1].wait()

        took_over = routed = None
        deadline = killed + 15
        while (took_over is None or routed is None) and time.monotonic() < deadline:
            if took_over is None and get(standby[0], "/ready", 0.5)[0] == 200:
                took_over = time.monotonic() - killed
            if routed is None and get(front, "/ready", 0.5)[0] == 200:
                routed = time.monotonic() - killed
            time.sleep(0.01)
        if took_over is None or routed is None:
            raise Failure("the standby did not become ready through HAProxy within 15 s")
        wait_for("three grants per bucket after the kill",
                 lambda: min(per_bucket(killed)) >= 3, 20)
        stop.set()
        for shard in shards:
            shard.join(timeout=30)
            if shard.is_alive():
                raise Failure(f"shard {shard.shard} still waits 30 s after the run")

        before = [a for a in answers if a[0] <= killed]
        only_grants(killed)  # one may have come between the last check and the kill
        after = [a for a in answers if a[0] > killed]
        bare = [a for a in after if not 200 <= a[2] < 300 and a[3] is None]
        if bare:
            raise Failure(f"{len(bare)} refusals after the kill without Retry-After (statuses "
                          f"{sorted({a[2] for a in bare})}): shards would not know when to ask")
        first = min(a[0] for a in grants(killed)) - killed

        # A shard that hangs up through HAProxy, at the queue that took over: shard 102 takes
        # bucket 0's slot, shard 100 then waits behind it and hangs up; the queue must drop it
        # (no grant, no row: the journal check below covers that).
        status, _ = get(front, "/?shard=102", timeout=5)
        if status != 200:
            raise Failure(f"shard 102 got {status} through HAProxy from the new active queue")
        answers.append((time.monotonic(), 102, status, None))
        hangup = socket.create_connection(("127.0.0.1", front))
        hangup.sendall(b"GET /?shard=100 HTTP/1.1\r\nHost: queue\r\n\r\n")
        waiting = lambda: json.loads(http_body(standby[0], "/status"))["waiting"]
        wait_for("the waiting shard to reach the queue", lambda: waiting() == 1, 2)
        hangup.close()
        try:
            wait_for("the queue to drop the waiter whose shard hung up", lambda: waiting() == 0,
                     3)
        except Failure as e:
            raise Failure(f"{e}: HAProxy kept the queue's side open (option abortonclose), "
                          "so the queue would grant a session start nobody takes")

        received = sorted(grants())
        for b in range(BUCKETS):
            times = [a[0] for a in received if a[1] % BUCKETS == b]
            gaps = [later - earlier for earlier, later in zip(times, times[1:])]
            if min(gaps) < INTERVAL_S - CLIENT_SLACK_S:
                raise Failure(f"bucket {b}: two grants {min(gaps):.3f} s apart at the shards")

        history = subprocess.run([binary, "history", "--db", uri, "--limit", "10000"],
                                 capture_output=True, text=True, check=True, env=env)
        rows = json.loads(history.stdout)["releases"]
        for b in range(BUCKETS):
            stamps = sorted(r["released_at"] for r in rows if r["bucket"] == b)
            gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:])]
            if min(gaps) < INTERVAL_S * 1000:
                raise Failure(f"bucket {b}: two journaled grants {min(gaps)} ms apart")
        if not any(r["released_at"] > killed_wall_ms for r in rows):
            raise Failure("no grant journaled after the kill")
        seen = {}
        for a in received:
            seen[a[1]] = seen.get(a[1], 0) + 1
        journaled = {}
        for r in rows:
            journaled[r["shard"]] = journaled.get(r["shard"], 0) + 1
        if seen != journaled:
            raise Failure(f"grants per shard: journal {journaled}, 2xx at the shards {seen}")

        refused = [a[2] for a in after if not 200 <= a[2] < 300]
        print(f"grants: {len(received)} through HAProxy ({len(before)} before the kill), each "
              f"journaled once; refusals after the kill: {len(refused)} (statuses "
              f"{sorted(set(refused))}), each with Retry-After")
        print(f"after kill -9 of the active: standby ready in {took_over:.3f} s, ready through "
              f"HAProxy in {routed:.3f} s, first grant through HAProxy in {first:.3f} s")
        return 0
    except Failure as e:
        print(f"FAIL: {e}")
        for log in logs:
            if log.exists():
                print(f"--- {log.name} (last lines)")
                print("\n".join(log.read_text(errors="replace").splitlines()[-30:]))
        return 1
    finally:
        stop.set()
        for process in reversed(processes):
            stop_process(process)
        database.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def http_body(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    except Failure as e:  # before anything started
        print(f"FAIL: {e}")
        sys.exit(1)
