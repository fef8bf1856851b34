#!/usr/bin/env bash
# Builds the container image from the project's Dockerfile with podman, as a user would
# (`build .`: the .dockerignore applies), and runs it as an operator would: a named volume on
# /data, a read-only root file system, the auth token as a file (QUEUE_AUTH_TOKEN_FILE), a port
# published on loopback (or, if podman cannot publish one, host networking bound to 127.0.0.1).
# Then checks:
#   - the image's HEALTHCHECK turns healthy (run on demand: podman has no health timer without
#     systemd);
#   - the server runs as a non-root uid, and the root file system cannot be written;
#   - without the bearer token a queue request gets 401, with the token read from the file 200;
#   - a grant, `podman kill` (SIGKILL), a new container on the same volume: its first grant comes
#     no sooner than the identify interval after the last one (the journal on the volume), and
#     /history shows every grant.
# The base image debian:12 (tagged debian:12-slim too) is imported from a debootstrap root
# (tests/support/debian_root.sh) when it is missing: no registry is needed. The image
# gateway-queue-test:latest is kept so that a rerun builds from podman's layer cache; the
# containers, the volume and the temporary files are removed.
#
# Usage: image_test.sh SOURCE_DIR     (root; podman, runc, debootstrap, curl, python3)
# Environment: GQ_IMAGE_TEST_INTERVAL_MS (default 2000), GQ_DEBIAN_ROOT_CACHE (debian_root.sh).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 SOURCE_DIR" >&2
  exit 2
fi
src="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
image=gateway-queue-test:latest
build_stage=gateway-queue-test-build:latest  # the Dockerfile's stage `build`, kept as the cache
interval_ms="${GQ_IMAGE_TEST_INTERVAL_MS:-2000}"
health_deadline_s=60
python=/usr/bin/python3

now_ms() { date +%s%3N; }
seconds() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
for tool in podman runc curl "$python"; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/setup.sh installs it)"
done
[ "$(id -u)" -eq 0 ] || fail "podman builds and runs the image as root here; run as root"

test_start=$(now_ms)
tmp="$(mktemp -d /tmp/gq-image-test.XXXXXX)"
name="gq-image-test-$$"
volume="gq-image-test-$$"
containers=()

# Three settings for a machine without systemd that may not raise limits (CI's, a container
# host's): runc rather than crun (crun refuses a hybrid cgroup layout), cgroupfs rather than
# systemd, and no default ulimits (raising RLIMIT_NOFILE/RLIMIT_NPROC is refused there).
printf '[containers]\ndefault_ulimits = []\n' >"$tmp/containers.conf"
export CONTAINERS_CONF="$tmp/containers.conf"
pm() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for c in "${containers[@]}"; do
    pm rm --force --time 0 "$c" >/dev/null 2>&1 || true
  done
  pm volume rm --force "$volume" >/dev/null 2>&1 || true
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

logs() {
  echo "--- podman logs $1 (last 40 lines) ---" >&2
  pm logs --tail 40 "$1" >&2 2>&1 || true
  echo "--- end of logs ---" >&2
}

# 1. The base image, from a debootstrap root (no registry).
if ! pm image exists debian:12; then
  step=$(now_ms)
  tarball="$("$here/../support/debian_root.sh" 2>"$tmp/debootstrap.log")" || {
    tail -n 30 "$tmp/debootstrap.log" >&2
    fail "could not make the Debian root tarball (tests/support/debian_root.sh)"
  }
  # PATH and CMD as Docker Hub's debian:12 has them (a bare import has no config at all).
  pm import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    "$tarball" debian:12 >/dev/null
  echo "base image: imported debian:12 from $tarball in $(seconds $(($(now_ms) - step))) s"
fi
pm image exists debian:12-slim || pm tag debian:12 debian:12-slim

# 2. Build, as `docker build -t gateway-queue .` would from SOURCE_DIR. `--format docker` keeps
# the HEALTHCHECK (the OCI image format has none). The build stage is tagged too (a first build
# with --target; the second reuses it), so that the images a rerun no longer needs (the previous
# compile, about 1.2 GB, and the previous image) can be removed by name, keeping the layer cache
# of this build and touching no other image on the machine.
old_ids=()
for tag in "$image" "$build_stage"; do
  old_ids+=("$(pm image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)")
done
# The commit, as the README's build command names it (the context leaves out .git).
commit="$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"
echo "building $image from $src (commit $commit) ..."
build_start=$(now_ms)
if ! pm build --format docker --network host --pull=never --target build -t "$build_stage" \
       --build-arg GQ_COMMIT="$commit" -f "$src/Dockerfile" "$src" >"$tmp/build.log" 2>&1 ||
   ! pm build --format docker --network host --pull=never -t "$image" \
       --build-arg GQ_COMMIT="$commit" -f "$src/Dockerfile" "$src" >>"$tmp/build.log" 2>&1; then
  tail -n 60 "$tmp/build.log" >&2
  fail "podman build failed (last 60 lines above)"
fi
build_ms=$(($(now_ms) - build_start))
for old in "${old_ids[@]}"; do
  # Untagged by this build: remove it (and the parent layers only it used).
  if [ -n "$old" ] && [ -z "$(pm image inspect --format '{{.RepoTags}}' "$old" 2>/dev/null |
                             tr -d '[]')" ]; then
    pm rmi "$old" >/dev/null 2>&1 || true
  fi
done
size_bytes="$(pm image inspect --format '{{.Size}}' "$image")"
size_mb="$(awk -v b="$size_bytes" 'BEGIN { printf "%.1f", b / 1000000 }')"
echo "built in $(seconds "$build_ms") s; image size ${size_mb} MB"
[ -n "$(pm image inspect --format '{{.HealthCheck}}' "$image" | grep -v '^<nil>$' || true)" ] ||
  fail "the image has no HEALTHCHECK (built without --format docker?)"

# The uid the image runs as: the secret file is made readable by it alone, as an operator would.
uid="$(pm run --rm --network none --entrypoint id "$image" -u 2>"$tmp/id.err")" ||
  { cat "$tmp/id.err" >&2; fail "could not run id in the image"; }
echo "the image's user: $(pm image inspect --format '{{.Config.User}}' "$image") (uid $uid)"
[ "$uid" != 0 ] || fail "the image runs as root"
version="$(pm run --rm --network none "$image" --version)"
echo "the image's binary: $version"
[ "$commit" = unknown ] || [[ "$version" == *"(commit $commit)" ]] ||
  fail "--version does not name the commit $commit: $version"

# 3. Run it: a named volume on /data, read-only root, the auth token as a file (with the trailing
# newline an editor leaves; the server drops one), a port on loopback.
token="image-test-$RANDOM$RANDOM"
printf '%s\n' "$token" >"$tmp/auth-token"
chown "$uid" "$tmp/auth-token"
chmod 0400 "$tmp/auth-token"
pm volume create "$volume" >/dev/null
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
network=(-p "127.0.0.1:$port:5000")

# `--read-only-tmpfs=false`: as under Docker's --read-only, nothing in the container is writable
# but the volume (podman would otherwise mount tmpfs on /tmp, /var/tmp and /run).
run_container() {  # NAME: starts it detached; what podman said goes to $tmp/run.err
  local c="$1"
  containers+=("$c")
  pm run -d --name "$c" "${network[@]}" \
    --read-only --read-only-tmpfs=false \
    -v "$volume:/data" \
    -v "$tmp/auth-token:/run/secrets/auth-token:ro" \
    -e QUEUE_AUTH_TOKEN_FILE=/run/secrets/auth-token \
    -e QUEUE_IDENTIFY_INTERVAL_MS="$interval_ms" \
    "$image" >"$tmp/run.out" 2>"$tmp/run.err"
}

wait_healthy() {  # NAME: runs the HEALTHCHECK until it passes, or fails with the logs
  local c="$1" deadline=$(($(now_ms) + health_deadline_s * 1000))
  until pm healthcheck run "$c" >/dev/null 2>&1; do
    if [ "$(pm inspect --format '{{.State.Running}}' "$c")" != true ]; then
      logs "$c"
      fail "$c exited before it was healthy ($(pm inspect --format '{{.State.ExitCode}}' "$c"))"
    fi
    if [ "$(now_ms)" -gt "$deadline" ]; then
      logs "$c"
      fail "$c not healthy within ${health_deadline_s} s"
    fi
    sleep 0.1
  done
}

start1=$(now_ms)
if ! run_container "$name"; then
  echo "note: podman refused to publish 127.0.0.1:$port:5000:" >&2
  sed 's/^/  /' "$tmp/run.err" >&2
  echo "note: falling back to --network host with HOST=127.0.0.1 PORT=$port" >&2
  pm rm --force --time 0 "$name" >/dev/null 2>&1 || true
  network=(--network host -e HOST=127.0.0.1 -e PORT="$port")
  start1=$(now_ms)
  run_container "$name" || { cat "$tmp/run.err" >&2; fail "podman run failed"; }
fi
networking="${network[*]}"
# 4. Healthy, by the image's own HEALTHCHECK.
wait_healthy "$name"
healthy_ms=$(($(now_ms) - start1))
echo "healthy $(seconds "$healthy_ms") s after podman run ($networking)"

# 5. Non-root, read-only root, the token from the file.
exec_uid="$(pm exec "$name" id -u)"
[ "$exec_uid" != 0 ] || fail "the server runs as root"
[ "$exec_uid" = "$uid" ] || fail "the server runs as uid $exec_uid, the image's user is uid $uid"
server_uid="$(pm top "$name" user,comm | awk '$2 == "gateway-queue" { print $1 }')"
echo "runs as uid $exec_uid (podman top: user ${server_uid:-?} for gateway-queue)"
[ "$(pm inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$name")" = true ] ||
  fail "the container's root file system is not read-only"
if pm exec "$name" sh -c 'touch /x' 2>/dev/null; then
  fail "a file could be written to the root file system"
fi
echo "root file system is read-only (touch /x refused)"

http() {  # CODE_FILE BODY_FILE URL [curl args]: the status code to CODE_FILE
  local code_file="$1" body_file="$2" url="$3"
  shift 3
  curl -sS --max-time 15 -o "$body_file" -w '%{http_code}' "$@" "$url" >"$code_file" ||
    fail "curl $url failed"
}
json() {  # FILE EXPRESSION: evaluates EXPRESSION on the JSON in FILE (as `j`)
  "$python" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
auth=(-H "Authorization: Bearer $token")

http "$tmp/code" "$tmp/body" "$base/health"
[ "$(cat "$tmp/code")" = 200 ] || fail "GET /health on the published port: $(cat "$tmp/code")"
http "$tmp/code" "$tmp/body" "$base/?shard=0"
code="$(cat "$tmp/code")"
if [ "$code" != 401 ]; then
  logs "$name"
  fail "GET /?shard=0 without the token got $code, not 401: the server did not take" \
       "QUEUE_AUTH_TOKEN_FILE (a binary without VAR_FILE secrets?)"
fi
http "$tmp/code" "$tmp/body" "$base/?shard=0" -H "Authorization: Bearer wrong-$token"
[ "$(cat "$tmp/code")" = 401 ] || fail "a wrong token got $(cat "$tmp/code"), not 401"
echo "without the token: 401"

# 6. A grant, SIGKILL, a new container on the same volume, the next grant: it must come no
# sooner than the interval after the one before the kill, which only the journal on the volume
# can tell the new container. The check bites only when the new container asks within the
# interval (the second grant waits); a restart slower than that proves nothing, so it is tried
# up to 3 times, and fails the test if it never was.
http "$tmp/code" "$tmp/grant" "$base/?shard=0" "${auth[@]}"
seen_before=$(now_ms)
[ "$(cat "$tmp/code")" = 200 ] || fail "GET /?shard=0 with the token got $(cat "$tmp/code"): $(cat "$tmp/grant")"
[ "$(json "$tmp/grant" 'j["shard"]')" = 0 ] || fail "the grant is not for shard 0: $(cat "$tmp/grant")"
echo "with the token from the file: 200 $(cat "$tmp/grant")"

current="$name" grants=1 waited=0 attempt=0
while [ "$waited" -eq 0 ]; do
  attempt=$((attempt + 1))
  if [ "$attempt" -gt 3 ]; then
    fail "3 restarts each took longer than the ${interval_ms} ms interval (the last" \
         "$((seen_after - seen_before)) ms from grant to grant): the spacing was never put to" \
         "the test; set GQ_IMAGE_TEST_INTERVAL_MS higher on this machine"
  fi
  pm kill "$current" >/dev/null  # SIGKILL
  pm wait --interval 20ms "$current" >/dev/null 2>&1 || true
  killed=$(now_ms)
  next="$name-$attempt"
  run_container "$next" || { cat "$tmp/run.err" >&2; fail "podman run (restart) failed"; }
  wait_healthy "$next"
  restart_healthy_ms=$(($(now_ms) - killed))
  http "$tmp/code" "$tmp/grant" "$base/?shard=0" "${auth[@]}"
  seen_after=$(now_ms)
  [ "$(cat "$tmp/code")" = 200 ] ||
    fail "the grant after the restart got $(cat "$tmp/code"): $(cat "$tmp/grant")"
  grants=$((grants + 1))
  waited="$(json "$tmp/grant" 'j["waited_ms"]')"

  http "$tmp/code" "$tmp/history" "$base/history?shard=0&limit=100" "${auth[@]}"
  [ "$(cat "$tmp/code")" = 200 ] || fail "GET /history got $(cat "$tmp/code")"
  [ "$(json "$tmp/history" 'len(j["releases"])')" = "$grants" ] ||
    fail "/history does not show the $grants grants: $(cat "$tmp/history")"
  t_before="$(json "$tmp/history" 'j["releases"][1]["released_at"]')"
  t_after="$(json "$tmp/history" 'j["releases"][0]["released_at"]')"
  spacing=$((t_after - t_before))
  client_spacing=$((seen_after - seen_before))
  echo "SIGKILL, new container on the volume healthy $(seconds "$restart_healthy_ms") s later;" \
       "its first grant waited $waited ms, journaled $spacing ms after the one before" \
       "(the client saw them $client_spacing ms apart)"
  [ "$spacing" -ge "$interval_ms" ] ||
    fail "the grant after the restart came $spacing ms after the one before it (< $interval_ms ms)"
  # What the client saw, with 20 ms for the measurement itself (curl starting and exiting).
  [ "$client_spacing" -ge $((interval_ms - 20)) ] ||
    fail "the client saw the two grants $client_spacing ms apart (< $interval_ms ms)"
  current="$next" seen_before="$seen_after"
done
echo "/history shows all $grants grants"

echo
echo "summary: build $(seconds "$build_ms") s, image ${size_mb} MB," \
     "start to healthy $(seconds "$healthy_ms") s (SIGKILL to healthy again: $(seconds "$restart_healthy_ms") s)," \
     "restart spacing $spacing ms (interval $interval_ms ms, the grant after the restart waited" \
     "$waited ms; $attempt restart(s)), network: $networking," \
     "whole test $(seconds $(($(now_ms) - test_start))) s"
