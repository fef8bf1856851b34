#!/usr/bin/env python3
"""GET /metrics of a live server passes `promtool check metrics` (Prometheus's own linter).

The server is scraped after real traffic of every kind that creates samples: grants in two
buckets, rejections (a malformed shard, a missing bearer token, a full queue) and a hang-up, so
that every family has samples and the histograms have observations. promtool's verdict is
printed; any finding fails the test.

Usage: promtool_metrics_test.py BINARY
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TOKEN = "metrics-test-token"
# Without a bots file the queue serves one bot, `default`: its series carry bot="default".
WAITING = 'gateway_queue_waiting{bot="default"}'


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, target, token=TOKEN, timeout=10):
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, target))
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(predicate, what, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    fail("timed out waiting for " + what)


def sample(text, line_start):
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return None


def main():
    binary = os.path.abspath(sys.argv[1])
    promtool = "promtool"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gq-promtool-") as work:
        env = {k: v for k, v in os.environ.items()
               if k not in ("HOST", "PORT") and not k.startswith(("QUEUE_", "DISCORD_"))}
        env.update(HOST="127.0.0.1", PORT=str(port), QUEUE_DB=os.path.join(work, "q.db"),
                   QUEUE_MAX_CONCURRENCY="2", QUEUE_IDENTIFY_INTERVAL_MS="60000",
                   QUEUE_MAX_WAITING="1", QUEUE_AUTH_TOKEN=TOKEN)
        server = subprocess.Popen([binary], env=env, cwd=work, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: server.poll() is None and health_ok(port), "GET /health")
            # Grants: one per bucket, at once (idle buckets grant immediately).
            for shard in (0, 1):
                status, body = get(port, "/?shard=%d" % shard)
                if status != 200:
                    fail("grant for shard %d: %d %s" % (shard, status, body))
            # Rejections: malformed shard (400), no token (401).
            if get(port, "/?shard=x")[0] != 400:
                fail("a malformed shard was not refused with 400")
            if get(port, "/metrics", token=None)[0] != 401:
                fail("a request without the token was not refused with 401")
            # A waiter (bucket 0 waits 60 s now), a second one refused as the queue is full,
            # then the waiter hangs up.
            waiter = socket.create_connection(("127.0.0.1", port))
            waiter.sendall(("GET /?shard=2 HTTP/1.1\r\nHost: q\r\nAuthorization: Bearer %s"
                            "\r\n\r\n" % TOKEN).encode())
            wait_for(lambda: sample(get(port, "/metrics")[1], WAITING) == 1,
                     "the waiter to be counted")
            if get(port, "/?shard=4")[0] != 503:
                fail("a waiter beyond QUEUE_MAX_WAITING was not refused with 503")
            waiter.close()
            wait_for(lambda: sample(get(port, "/metrics")[1], "gateway_queue_hangups_total") == 1,
                     "the hang-up to be counted")

            status, text = get(port, "/metrics")
            if status != 200:
                fail("GET /metrics answered %d" % status)
            expected = {
                'gateway_queue_grants_total{bot="default"}': 2,
                "gateway_queue_hangups_total": 1,
                'gateway_queue_rejections_total{reason="bad_request"}': 1,
                'gateway_queue_rejections_total{reason="auth"}': 1,
                'gateway_queue_rejections_total{reason="full"}': 1,
                "gateway_queue_journal_commit_seconds_count": None,  # present, any count
            }
            for series, value in expected.items():
                got = sample(text, series)
                if got is None or (value is not None and got != value):
                    fail("%s is %s, expected %s\n%s" % (series, got, value, text))

            check = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                                   capture_output=True, timeout=60)
            print("promtool check metrics: exit %d" % check.returncode)
            print((check.stdout + check.stderr).strip() or "(no findings)")
            if check.returncode != 0 or (check.stdout + check.stderr).strip():
                fail("promtool found problems in:\n" + text)
            print("ok: %d lines of /metrics pass promtool" % len(text.splitlines()))
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def health_ok(port):
    try:
        return get(port, "/health", token=None, timeout=1)[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
