"""Shared by the Python tests that start real queues on loopback: a free port, one GET, a stop by
PID, and a fresh database in the ctest run's PostgreSQL cluster (postgres.cluster_start writes
"DIR PORT" to GQ_POSTGRES_CLUSTER_FILE; user postgres is trusted over 127.0.0.1)."""

import http.client
import os
import shutil
import signal
import socket
import subprocess

PG_BIN = "/usr/lib/postgresql/15/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=2.0):
    """(status, Retry-After header or None); status 0 when nothing answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    except OSError:
        return 0, None
    finally:
        conn.close()


def stop_process(process):
    """SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class test_database:
    """A new database in the run's cluster: `port`, `name`, `uri`; drop() removes it."""

    def __init__(self, prefix):
        with open(os.environ["GQ_POSTGRES_CLUSTER_FILE"]) as f:
            self.port = int(f.read().split()[1])
        psql = shutil.which("psql", path=f"{PG_BIN}:{os.environ.get('PATH', '')}")
        self._admin = [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d",
                       "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c"]
        self.name = f"{prefix}_{os.getpid()}"
        subprocess.run(self._admin + [f"CREATE DATABASE {self.name}"], check=True)
        self.uri = f"postgresql://postgres@127.0.0.1:{self.port}/{self.name}"

    def drop(self):
        subprocess.run(self._admin + [f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"])
