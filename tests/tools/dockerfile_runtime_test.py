#!/usr/bin/env python3
"""Runs the Dockerfile's runtime stage commands against the built binary, without a Docker engine.

What the image would run is read from the Dockerfile, not copied here: the last stage's ENV,
WORKDIR, ENTRYPOINT and CMD, and its HEALTHCHECK command (exec form as given, shell form under
/bin/sh -c, as Docker runs it). The path the binary is COPY'd to is mapped to the built binary.
Then, as a container would:
  - the entrypoint starts the server (HOST overridden to 127.0.0.1: tests bind loopback only;
    PORT to a free port; the journal and working directory in a temporary directory);
  - the health check, run with the image's own environment (HOST=0.0.0.0), must pass within its
    --timeout once the server is up;
  - after SIGTERM the server exits 0, and the health check must then fail.
And the packages: every shared library the binary needs directly must come from a package the
runtime stage's `apt-get install` names, or from one of their dependencies (per this machine's
apt and dpkg, the same Debian release).
What this cannot check without an engine: the base image, USER, file ownership.

Usage: dockerfile_runtime_test.py DOCKERFILE BINARY
"""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def instructions(path):
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    result, pending = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line, pending = pending + line, ""
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def command_form(text):
    """A command as Docker runs it: exec form (JSON array) as is, shell form under /bin/sh -c."""
    if text.startswith("["):
        return json.loads(text)
    return ["/bin/sh", "-c", text]


def parse_env(text, env):
    if "=" not in text.split()[0]:  # legacy form: ENV NAME value
        name, _, value = text.partition(" ")
        env[name] = value.strip()
        return
    for item in shlex.split(text):
        name, _, value = item.partition("=")
        env[name] = value


def runtime_stage(path):
    stage = None
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            stage = {"env": {}, "entrypoint": [], "cmd": [], "healthcheck": None,
                     "timeout": 30.0, "copies": {}, "workdir": "/", "packages": []}
        elif stage is None:
            continue
        elif keyword == "RUN" and "apt-get install" in rest:
            for command in re.split(r"&&|;", rest):
                words = command.split()
                if "apt-get" in words and "install" in words:
                    after = words[words.index("install") + 1:]
                    stage["packages"] += [w for w in after if not w.startswith("-")]
        elif keyword == "ENV":
            parse_env(rest, stage["env"])
        elif keyword == "WORKDIR":
            stage["workdir"] = rest
        elif keyword == "ENTRYPOINT":
            stage["entrypoint"] = command_form(rest)
        elif keyword == "CMD":
            stage["cmd"] = command_form(rest)
        elif keyword == "COPY":
            parts = [p for p in rest.split() if not p.startswith("--")]
            stage["copies"][parts[-1]] = parts[:-1]
        elif keyword == "HEALTHCHECK":
            options = re.findall(r"--(\w[\w-]*)=(\S+)", rest)
            command = re.sub(r"^(--\S+\s+)*", "", rest)
            if not command.startswith("CMD"):
                fail("HEALTHCHECK without CMD: " + rest)
            stage["healthcheck"] = command_form(command[3:].strip())
            for name, value in options:
                if name == "timeout":
                    stage["timeout"] = duration(value)
    if stage is None:
        fail("no FROM in the Dockerfile")
    return stage


def duration(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(number) * units[unit]
    return total


def check_packages(binary, packages):
    """Each library the binary needs directly is installed by the listed packages' closure."""
    if not packages:
        fail("the runtime stage installs no packages with apt-get")
    closure = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + packages,
        capture_output=True, text=True, check=True).stdout
    provided = {line.strip().split(":")[0] for line in closure.splitlines()
                if line and not line.startswith(" ")}
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", binary], capture_output=True, text=True,
                                       check=True).stdout)
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
        ["ldd", binary], capture_output=True, text=True, check=True).stdout, re.M))
    missing = []
    for library in needed:
        path = os.path.realpath(resolved.get(library, library))
        owners = None
        for candidate in (path, path.replace("/usr/lib/", "/lib/", 1),
                          path.replace("/lib/", "/usr/lib/", 1)):
            found = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if found.returncode == 0:
                owners = {o.strip().split(":")[0]
                          for o in found.stdout.split(":", 1)[0].split(",")}
                break
        if owners is None:
            fail("no Debian package ships %s (%s)" % (library, path))
        if not owners & provided:
            missing.append("%s (%s)" % (library, ", ".join(sorted(owners))))
    if missing:
        fail("the runtime stage does not install: " + "; ".join(missing))
    print("packages: all %d libraries the binary needs come from %s"
          % (len(needed), " ".join(packages)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    dockerfile, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    stage = runtime_stage(dockerfile)
    # Where the image keeps the binary: the COPY whose source ends in the binary's name.
    name = os.path.basename(binary)
    installed = [dest for dest, sources in stage["copies"].items()
                 if any(os.path.basename(s) == name for s in sources)]
    if not installed:
        fail("the runtime stage COPYs no " + name)

    def localize(argv):
        return [binary if arg in installed else arg for arg in argv]

    check_packages(binary, stage["packages"])
    server_argv = localize(stage["entrypoint"] + stage["cmd"])
    if not server_argv or server_argv[0] != binary:
        fail("the image does not start the binary: " + str(stage["entrypoint"] + stage["cmd"]))
    if stage["healthcheck"] is None:
        fail("the runtime stage has no HEALTHCHECK")
    check_argv = localize(stage["healthcheck"])
    print("entrypoint:", server_argv, "\nhealthcheck:", check_argv,
          "(timeout %.1f s)" % stage["timeout"])

    with tempfile.TemporaryDirectory(prefix="gq-dockerfile-") as work:
        image_env = {k: v for k, v in os.environ.items()
                     if k not in ("HOST", "PORT") and not k.startswith(("QUEUE_", "DISCORD_"))}
        image_env.update(stage["env"])
        image_env["PORT"] = str(free_port())
        image_env["QUEUE_DB"] = os.path.join(work, "gateway-queue.db")
        server_env = dict(image_env, HOST="127.0.0.1")

        def health():
            try:
                done = subprocess.run(check_argv, env=image_env, cwd=work, capture_output=True,
                                      text=True, timeout=stage["timeout"])
                return done.returncode, (done.stdout + done.stderr).strip()
            except subprocess.TimeoutExpired:
                return None, "timed out after %.1f s" % stage["timeout"]

        server = subprocess.Popen(server_argv, env=server_env, cwd=work,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            code, said = health()
            while code != 0 and time.monotonic() < deadline and server.poll() is None:
                time.sleep(0.1)
                code, said = health()
            if code != 0:
                fail("the health check never passed against a running server: exit %s, %r"
                     % (code, said))
            print("healthy: health check exits 0 against the running server")
            server.send_signal(signal.SIGTERM)
            try:
                exit_code = server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                fail("the server did not stop within 10 s of SIGTERM")
            if exit_code != 0:
                fail("the server exited %d after SIGTERM: %s" % (exit_code, server.stderr.read()))
            code, said = health()
            if code == 0:
                fail("the health check passes with no server running")
            print("unhealthy: health check exits %s once the server is gone: %s" % (code, said))
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
