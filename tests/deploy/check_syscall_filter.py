"""Checks that the systemd unit's SystemCallFilter lets the real server work: runs the binary
under strace, drives it through what it does in production (the token read from a file, as the
drop-in discord-token.conf hands it over; limits from a Discord API, grants journaled, /health,
/status, /metrics, /history, a waiter that hangs up, SIGTERM with a waiter), and fails if it
made a system call the unit's filter refuses. systemd itself cannot run here, so
the filter is computed from the unit's SystemCallFilter= lines with `systemd-analyze
syscall-filter`, the same tables systemd applies.

usage: check_syscall_filter.py UNIT_FILE GATEWAY_QUEUE_BINARY
"""

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

# SQLite calls fchown on its journal files only when its effective uid is 0, to keep them owned
# like the database; under the unit's DynamicUser it never is. When this check runs as root those
# calls are expected and do not count.
ROOT_ONLY = {"fchown"}


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def expand(entry, seen=None):
    """The system calls of a systemd syscall-filter entry (a @group, recursively, or one call)."""
    if not entry.startswith("@"):
        return {entry}
    seen = seen if seen is not None else set()
    if entry in seen:
        return set()
    seen.add(entry)
    listing = subprocess.run(["systemd-analyze", "syscall-filter", entry], capture_output=True,
                             text=True, check=True).stdout
    calls = set()
    for line in listing.splitlines()[1:]:
        item = line.strip()
        if item and not item.startswith("#"):
            calls |= expand(item, seen)
    return calls


def unit_filter(unit):
    """The calls the unit allows: its allow-lists minus its deny-lists (lines starting with ~)."""
    allowed, denied = set(), set()
    for line in Path(unit).read_text().splitlines():
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1]
        target = denied if value.startswith("~") else allowed
        for entry in value.lstrip("~").split():
            target |= expand(entry)
    if not allowed:
        fail(f"{unit} has no SystemCallFilter allow-list")
    return allowed - denied


class FakeDiscord(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = json.dumps({"url": "wss://gateway.invalid", "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 990, "reset_after": 3600000, "max_concurrency": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=10):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.read()


def exercise(binary, workdir):
    """Runs the server under strace through a short production-like life; returns the trace."""
    discord = http.server.HTTPServer(("127.0.0.1", 0), FakeDiscord)
    threading.Thread(target=discord.serve_forever, daemon=True).start()
    port = free_port()
    trace = workdir / "trace.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUEUE_", "DISCORD_"))}
    # A credential file, as systemd's LoadCredential= leaves it (one final newline, mode 0400).
    token = workdir / "discord-token"
    token.write_text("syscall-check\n")
    token.chmod(0o400)
    env.update(HOST="127.0.0.1", PORT=str(port), QUEUE_DB=str(workdir / "journal.db"),
               DISCORD_TOKEN_FILE=str(token), QUEUE_IDENTIFY_INTERVAL_MS="300",
               DISCORD_API_URL=f"http://localhost:{discord.server_address[1]}/api/v10",
               QUEUE_REFRESH_INTERVAL_S="1")
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", str(trace), binary], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=workdir)
    server_pid = None
    try:
        deadline = time.monotonic() + 20
        while True:
            if server_pid is None and trace.exists() and trace.stat().st_size > 0:
                server_pid = int(trace.read_text().split(None, 1)[0])  # first line: its execve
            try:
                status = json.loads(get(port, "/status", timeout=2))
                # Serving means the trace has its first line: the pid is known by now.
                if server_pid is not None and status.get("limits_source") == "discord":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or tracer.poll() is not None:
                raise RuntimeError("the server did not come up with limits from the fake Discord API")
            time.sleep(0.1)
        get(port, "/health")
        for shard in (0, 2, 1):  # 2 waits one interval behind 0 in bucket 0
            get(port, f"/?shard={shard}")
        get(port, "/metrics")
        get(port, "/history?limit=5")
        # A waiter that hangs up before its turn (bucket 0 granted shard 2 just now).
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /?shard=10 HTTP/1.1\r\nHost: q\r\n\r\n")
            time.sleep(0.05)
        # Two more for bucket 0: at least one still waits when SIGTERM comes.
        waiters = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        for s, shard in zip(waiters, (12, 14)):
            s.sendall(f"GET /?shard={shard} HTTP/1.1\r\nHost: q\r\n\r\n".encode())
        time.sleep(0.05)
        os.kill(server_pid, signal.SIGTERM)
        for s in waiters:
            s.settimeout(10)
            while s.recv(4096):  # the answer (a grant or 503), then the close at exit
                pass
            s.close()
        tracer.wait(timeout=20)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
        if server_pid is not None:
            os.kill(server_pid, signal.SIGKILL)
        if tracer.poll() is None:
            tracer.kill()
        print(tracer.communicate()[0].decode(errors="replace"))
        fail(str(error))
    finally:
        discord.shutdown()
        if tracer.poll() is None:  # whatever went wrong, nothing is left running
            if server_pid is not None:
                try:
                    os.kill(server_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            tracer.kill()
            tracer.wait()
    return trace.read_text()


def main():
    unit, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    allowed = unit_filter(unit)
    with tempfile.TemporaryDirectory() as tmp:
        trace = exercise(binary, Path(tmp))
    used = set(re.findall(r"^\d+\s+([a-z0-9_]+)\(", trace, re.MULTILINE))
    if len(used) < 20:
        fail(f"the trace holds only {sorted(used)}: strace did not follow the server")
    refused = used - allowed
    if os.geteuid() == 0:
        refused -= ROOT_ONLY
    if refused:
        fail(f"the server made system calls the unit's SystemCallFilter refuses: {sorted(refused)}")
    print(f"{len(used)} distinct system calls made by the server, all allowed by the unit's "
          f"SystemCallFilter ({len(allowed)} calls)")


if __name__ == "__main__":
    main()
