"""Two real queues reach one PostgreSQL journal through PgBouncer in transaction pooling with one
server connection: both are handed the same database session, so the journal's session lock
alone would let both be active (a second pg_try_advisory_lock succeeds in the session holding
it) and both grant at once. The queue marks the session that took the lock; the second queue finds
another process's mark on it and refuses to start (exit 1), naming the pooler. The check: exactly
one queue answers /ready 200, shard 0 asked at both is granted by one only, and the other's log
names the connection pooler.

Fails on a build without the mark: both queues answered /ready 200 and each granted shard 0.

The cluster is ctest's fixture (postgres.cluster_start): GQ_POSTGRES_CLUSTER_FILE holds
"DIR PORT"; user postgres is trusted over 127.0.0.1. PgBouncer refuses to run as root, so as root
it runs as user postgres.

usage: pgbouncer_pooling.py GATEWAY_QUEUE_BINARY
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from loopback import free_port, get, stop_process, test_database  # noqa: E402

def main(binary):
    pgbouncer = shutil.which("pgbouncer", path=f"/usr/sbin:{os.environ.get('PATH', '')}")
    if pgbouncer is None:
        print("pgbouncer is not installed (scripts/setup.sh --tests installs it)")
        return 1
    db = test_database("gq_pgbouncer")

    tmp = Path(tempfile.mkdtemp(prefix="gq-pgbouncer-"))
    os.chmod(tmp, 0o755)
    processes = []
    try:
        bouncer_port = free_port()
        ini = tmp / "pgbouncer.ini"
        ini.write_text(f"""[databases]
journal = host=127.0.0.1 port={db.port} dbname={db.name} user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {bouncer_port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 1
""")
        ini.chmod(0o644)
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        bouncer_log = tmp / "pgbouncer.log"
        processes.append(subprocess.Popen(as_postgres + [pgbouncer, str(ini)],
                                          stdout=bouncer_log.open("w"), stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", bouncer_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    print(bouncer_log.read_text())
                    return 1
                time.sleep(0.05)

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("QUEUE_", "DISCORD_")) and k not in ("HOST", "PORT")}
        env.update(HOST="127.0.0.1",
                   QUEUE_DB=f"postgresql://postgres@127.0.0.1:{bouncer_port}/journal")
        queues = []
        for name in ("a", "b"):
            port = free_port()
            log = tmp / f"queue-{name}.log"
            process = subprocess.Popen([binary], env=dict(env, PORT=str(port)),
                                       stdout=log.open("w"), stderr=subprocess.STDOUT)
            processes.append(process)
            queues.append((name, port, log))
            # One after the other, so that the first has taken the lock when the second tries;
            # the second may exit at once.
            deadline = time.monotonic() + 15
            while get(port, "/health")[0] != 200 and process.poll() is None:
                if time.monotonic() > deadline:
                    print(log.read_text())
                    return 1
                time.sleep(0.05)

        # The first has held the journal since it listened; a standby would retry every 200 ms:
        # give it ten tries to go wrong before looking.
        time.sleep(2.0)
        ready = {name: get(port, "/ready")[0] for name, port, _ in queues}
        granted = {name: get(port, "/?shard=0")[0] for name, port, _ in queues}
        print(f"/ready: {ready}; GET /?shard=0: {granted}")
        failures = []
        if list(ready.values()).count(200) != 1:
            failures.append(f"expected exactly one active queue, /ready answered {ready}")
        if list(granted.values()).count(200) != 1:
            failures.append(f"expected shard 0 granted by one queue only, got {granted}")
        refused = [log.read_text() for name, _, log in queues if ready[name] != 200]
        if not any("connection pooler" in text for text in refused):
            failures.append("the other queue's log does not name the connection pooler")
        if processes[2].poll() != 1:
            failures.append(f"the second queue should exit 1, not {processes[2].poll()}")
        for failure in failures:
            print("FAIL:", failure)
        if failures:
            for name, _, log in queues:
                print(f"--- queue {name} ---\n{log.read_text()}")
        return 1 if failures else 0
    finally:
        for process in reversed(processes):
            stop_process(process)
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
