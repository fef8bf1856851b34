#!/usr/bin/env bash
# The Debian package, checked the way Debian and an operator would (cmake/packaging.cmake,
# deploy/debian/):
#   1. the package's unit keeps every sandbox setting of deploy/systemd's, and systemd-analyze
#      verifies it;
#   2. `cpack -G DEB` in BUILD_DIR (configured and built: nothing is rebuilt) makes the .deb;
#   3. lintian finds no error or warning that the package does not override with a reason;
#   4. in a throwaway Debian 12 root (debootstrap minbase, cached: tests/support/debian_root.sh)
#      `apt-get install ./gateway-queue_*.deb` works without systemd; the user, the state
#      directory, the settings file and the enabled unit are as documented; the server runs as
#      the package's user the way the unit starts it, reads a secret from a 0640 root:gateway-queue
#      file, answers a queue request and writes its journal;
#   5. `apt-get remove` keeps the settings, secrets, journal and user; `apt-get purge` then leaves
#      nothing behind: every file of the root is as before the install.
# usage: package_test.sh BUILD_DIR          (root; about 1 min once the root tarball exists)
# Exit 0 on success, 1 on a failure, 77 when it cannot run here (not root).
# shellcheck disable=SC2016 # '${Status}' and '${Conffiles}' are dpkg-query's, not the shell's
set -euo pipefail

build="$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
source_dir="$(cd "$here/../.." && pwd)"
started=$SECONDS

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }
# run_logged LOG WHAT COMMAND...: the command's output goes to $work/LOG, shown if it fails.
run_logged() {
  local log="$work/$1" what="$2"
  shift 2
  "$@" >"$log" 2>&1 || {
    cat "$log" >&2
    fail "$what"
  }
}

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root (chroot, mount, apt-get inside the throwaway root)"
  exit 77
fi
for tool in cpack lintian dpkg-deb dpkg-shlibdeps debootstrap curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/setup.sh installs it)"
done

work="$(mktemp -d /var/tmp/gateway-queue-package.XXXXXX)"
root="$work/root"
server_pid=""
cleanup() {
  local status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  # Everything mounted below the root, deepest first, before anything is deleted; rm stays on
  # this file system in any case.
  if [ -d "$root" ]; then
    awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r mount_point; do umount -l "$mount_point" || true; done
  fi
  rm -rf --one-file-system "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- 1. The unit -------------------------------------------------------------------------------
step "systemd unit"
unit="$source_dir/deploy/debian/gateway-queue.service"
original="$source_dir/deploy/systemd/gateway-queue.service"
settings() { grep -Ev '^[[:space:]]*(#|$)' "$1"; }
# What the package's unit changes on purpose (its header says why); every other line stays.
while read -r line; do
  case "$line" in
    ExecStart=* | DynamicUser=* | Environment=QUEUE_DB=*) continue ;;
  esac
  grep -Fqx -- "$line" "$unit" || fail "$unit lacks \"$line\" of $original"
done < <(settings "$original")
for line in ExecStart=/usr/bin/gateway-queue User=gateway-queue Group=gateway-queue \
  StateDirectory=gateway-queue StateDirectoryMode=0700 \
  EnvironmentFile=-/etc/gateway-queue/gateway-queue.env; do
  grep -Fqx -- "$line" "$unit" || fail "$unit lacks $line"
done
! grep -q '^DynamicUser=' "$unit" || fail "$unit must run as the package's user, not DynamicUser"
if command -v systemd-analyze >/dev/null && [ -x "$build/gateway-queue" ]; then
  # verify needs ExecStart's binary to exist: a copy pointing at the one this build made.
  sed "s#^ExecStart=/usr/bin/gateway-queue\$#ExecStart=$build/gateway-queue#" "$unit" \
    >"$work/gateway-queue.service"
  if ! systemd-analyze verify --man=no "$work/gateway-queue.service" >"$work/verify.log" 2>&1 ||
    [ -s "$work/verify.log" ]; then
    cat "$work/verify.log" >&2
    fail "systemd-analyze verify complains about $unit"
  fi
  # The exposure of deploy/systemd's unit (tests/deploy/systemd_unit.sh): a real user instead of
  # a dynamic one costs nothing. Never raise it to let a loosened setting pass.
  security_status=0
  systemd-analyze security --offline=true --threshold=11 "$work/gateway-queue.service" \
    >"$work/security.log" 2>&1 || security_status=$?
  exposure="$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' "$work/security.log")"
  if [ "$security_status" -ne 0 ]; then
    grep '✗' "$work/security.log" >&2 || true
    fail "systemd-analyze security: exposure ${exposure:-?} is above 1.1"
  fi
  echo "systemd-analyze verify: no complaints; security: exposure $exposure"
fi

# --- 2. The package ----------------------------------------------------------------------------
step "cpack -G DEB"
[ -f "$build/CPackConfig.cmake" ] ||
  fail "$build has no CPackConfig.cmake (is cmake/packaging.cmake included?)"
[ -x "$build/gateway-queue" ] || fail "$build/gateway-queue is not built"
# Into a directory of its own, so that no package of an earlier run is picked up and the build
# directory gains nothing. CPack's own preinstall step finds everything up to date.
run_logged cpack.log "cpack failed" cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out"
debs=("$work/out"/gateway-queue_*.deb)
if [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then
  fail "cpack made no single gateway-queue_*.deb"
fi
deb="${debs[0]}"
package_size=$(stat -c %s "$deb")
dpkg-deb --field "$deb"
dpkg-deb --contents "$deb" | awk '{ print $1, $2, $6 }'

# --- 3. lintian --------------------------------------------------------------------------------
step "lintian"
# Tags this check lets pass, as [tag]="why" (none today). A tag that holds for the package on
# purpose is overridden in the package itself instead (deploy/debian/lintian-overrides, each with
# its reason), so that whoever runs lintian on it sees the same; lintian reports those as "O:".
declare -A allowed=()
lintian_start=$SECONDS
run_logged lintian.log "lintian could not run" \
  lintian --fail-on none --display-level '>=warning' --show-overrides "$deb"
lintian_seconds=$((SECONDS - lintian_start))
lintian_bad=0
lintian_overridden=0
while read -r severity _ tag rest; do
  case "$severity" in
    E: | W:)
      if [ -n "${allowed[$tag]+x}" ]; then
        echo "allowed: $severity $tag $rest"
      else
        echo "lintian: $severity $tag $rest" >&2
        lintian_bad=$((lintian_bad + 1))
      fi
      ;;
    O:) lintian_overridden=$((lintian_overridden + 1)) && echo "overridden: $tag $rest" ;;
  esac
done <"$work/lintian.log"
if [ "$lintian_bad" -ne 0 ]; then
  cat "$work/lintian.log" >&2
  fail "lintian: $lintian_bad errors or warnings"
fi
lintian_result="clean (no error or warning; $lintian_overridden overridden in the package)"
echo "lintian: $lintian_result, ${lintian_seconds} s"

# --- 4. Install into a throwaway Debian 12 root -----------------------------------------------
step "throwaway root"
tarball_start=$SECONDS
tarball="$("$source_dir/tests/support/debian_root.sh")"
tarball_seconds=$((SECONDS - tarball_start))
mkdir "$root"
tar --numeric-owner -xpf "$tarball" -C "$root"
mount -t proc proc "$root/proc"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -m 0755 "$root/tmp/package"
install -m 0644 "$deb" "$root/tmp/package/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }
[ ! -e "$root/run/systemd/system" ] || fail "the throwaway root looks like a running systemd"

# The files of the root (path, mode, owner), to compare after the purge. Left out: what apt and
# dpkg keep about packages (lists, caches, logs, database: they record the install, not files of
# the package; dpkg's records of it are checked after the purge), debconf's database, the mount
# point /proc, the package's own copy in /tmp/package, and what the system's account tools leave
# whenever a package adds or removes a user: the backups passwd- group- shadow- gshadow- (whose
# live files are checked) and adduser's lock file /run/adduser (in /run, emptied at boot).
snapshot() {
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./tmp/package -o -path ./var/lib/apt/lists \
    -o -path ./var/cache/apt -o -path ./var/log -o -path ./var/cache/debconf \
    -o -path ./var/lib/dpkg -o -path ./etc/passwd- -o -path ./etc/group- -o -path ./etc/shadow- \
    -o -path ./etc/gshadow- -o -path ./run/adduser \) -prune -o -printf '%p %M %u:%g\n' | sort)
}

install_start=$SECONDS
run_logged update.log "apt-get update" in_root apt-get update -q
# The package's dependencies first, as apt would resolve them for it, so that the snapshot taken
# next holds them and the comparison after the purge sees only what the package itself did.
depends="$(dpkg-deb --field "$deb" Depends)"
run_logged satisfy.log "apt-get satisfy (the package's Depends)" \
  in_root apt-get satisfy -y -q "$depends"
snapshot >"$work/before.txt"
run_logged install.log "apt-get install ./$(basename "$deb")" \
  in_root sh -c 'cd /tmp/package && apt-get install -y -q ./gateway-queue_*.deb'
install_seconds=$((SECONDS - install_start))
grep -E '^(Setting up|Unpacking) ' "$work/install.log" || true
newly="$(sed -n 's/.* \([0-9]*\) newly installed.*/\1/p' "$work/install.log")"
if [ "$newly" != 1 ]; then
  cat "$work/install.log" >&2
  fail "the install took $newly new packages, not 1"
fi

step "installed files"
stat_in_root() { in_root stat -c "$1" "$2"; }
passwd_entry="$(in_root getent passwd gateway-queue)" || fail "no user gateway-queue"
echo "user: $passwd_entry"
IFS=: read -r _ _ uid gid _ home shell <<<"$passwd_entry"
[ "$uid" -lt 1000 ] || fail "gateway-queue is not a system user (uid $uid)"
[ "$home" = /var/lib/gateway-queue ] || fail "gateway-queue's home is $home"
case "$shell" in */nologin | */false) ;; *) fail "gateway-queue may log in (shell $shell)" ;; esac
[ "$(in_root getent group gateway-queue | cut -d: -f3)" = "$gid" ] || fail "no group gateway-queue"
# expect_stat PATH "OWNER:GROUP MODE"
expect_stat() {
  local found
  found="$(stat_in_root '%U:%G %a' "$1")" || fail "no $1"
  [ "$found" = "$2" ] || fail "$1 is $found, not $2"
}
expect_stat /var/lib/gateway-queue "gateway-queue:gateway-queue 700"
env_file=/etc/gateway-queue/gateway-queue.env
expect_stat "$env_file" "root:root 600"
in_root dpkg-query -W -f='${Conffiles}\n' gateway-queue | grep -q " $env_file " ||
  fail "$env_file is not a conffile"
expect_stat /usr/bin/gateway-queue "root:root 755"
expect_stat /lib/systemd/system/gateway-queue.service "root:root 644"
# Enabled (deb-systemd-helper works without a running systemd), not started.
[ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/gateway-queue.service")" = \
  /lib/systemd/system/gateway-queue.service ] || fail "the unit is not enabled"
[ -f "$root/usr/share/man/man1/gateway-queue.1.gz" ] || fail "no manual page"
version="$(in_root gateway-queue --version)" || fail "gateway-queue --version"
echo "version: $version"

step "the server as the unit runs it"
# An operator's secret, the documented way: root:gateway-queue 0640, named by a *_FILE setting.
token="package-test-$RANDOM$RANDOM"
in_root install -m 0640 -g gateway-queue /dev/null /etc/gateway-queue/auth-token
printf '%s\n' "$token" >"$root/etc/gateway-queue/auth-token"
echo "QUEUE_AUTH_TOKEN_FILE=/etc/gateway-queue/auth-token" >>"$root$env_file"
port="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')"
mapfile -t file_settings < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$root$env_file")
echo "settings: ${file_settings[*]} HOST=127.0.0.1 PORT=$port"
# As the unit: the env file's settings, the package's user, the state directory as working
# directory, umask 0077. setpriv and sh exec, so $! is the server itself.
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${file_settings[@]}" \
  QUEUE_DB=/var/lib/gateway-queue/gateway-queue.db HOST=127.0.0.1 PORT="$port" \
  /bin/sh -c 'cd /var/lib/gateway-queue && umask 0077 &&
    exec setpriv --reuid=gateway-queue --regid=gateway-queue --init-groups --no-new-privs \
      /usr/bin/gateway-queue' >"$work/server.log" 2>&1 &
server_pid=$!
ready=""
for _ in $(seq 1 100); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the server exited"; }
  if in_root gateway-queue probe --port "$port" --timeout-ms 500 >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  cat "$work/server.log" >&2
  fail "gateway-queue probe --port $port never succeeded"
fi
[ "$(in_root stat -c %U "/proc/$server_pid")" = gateway-queue ] ||
  fail "the server does not run as gateway-queue"
code="$(curl -sS --max-time 10 -o "$work/refused.txt" -w '%{http_code}' \
  "http://127.0.0.1:$port/?shard=0")"
[ "$code" = 401 ] ||
  fail "a request without the token from QUEUE_AUTH_TOKEN_FILE got $code, not 401"
code="$(curl -sS --max-time 10 -o "$work/granted.txt" -w '%{http_code}' \
  -H "Authorization: Bearer $token" "http://127.0.0.1:$port/?shard=0")"
echo "GET /?shard=0: $code $(cat "$work/granted.txt")"
if [ "$code" != 200 ] || ! grep -q "You're free to connect now" "$work/granted.txt"; then
  cat "$work/server.log" >&2
  fail "the queue request was not granted"
fi
expect_stat /var/lib/gateway-queue/gateway-queue.db "gateway-queue:gateway-queue 600"
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""
if [ "$server_status" -ne 0 ]; then
  cat "$work/server.log" >&2
  fail "the server exited $server_status on SIGTERM"
fi
echo "server stopped (SIGTERM, exit 0)"

# --- 5. Remove, then purge ---------------------------------------------------------------------
step "remove"
# A removal takes the program and keeps what the operator made: settings, secrets, journal, user.
run_logged remove.log "apt-get remove" in_root apt-get remove -y -q gateway-queue
[ ! -e "$root/usr/bin/gateway-queue" ] || fail "/usr/bin/gateway-queue is left after the removal"
for path in "$env_file" /etc/gateway-queue/auth-token /var/lib/gateway-queue/gateway-queue.db; do
  [ -f "$root$path" ] || fail "the removal deleted $path (only a purge may)"
done
in_root getent passwd gateway-queue >/dev/null || fail "the removal deleted the user gateway-queue"
[ "$(in_root dpkg-query -W -f='${Status}' gateway-queue)" = "deinstall ok config-files" ] ||
  fail "after the removal dpkg says: $(in_root dpkg-query -W -f='${Status}' gateway-queue)"
echo "remove: program gone; settings, secret, journal and user kept"

step "purge"
run_logged purge.log "apt-get purge" in_root apt-get purge -y -q gateway-queue
for path in /etc/gateway-queue /var/lib/gateway-queue /usr/bin/gateway-queue \
  /lib/systemd/system/gateway-queue.service; do
  if [ -e "$root$path" ] || [ -L "$root$path" ]; then fail "$path is left after the purge"; fi
done
! in_root getent passwd gateway-queue >/dev/null || fail "the user gateway-queue is left"
! in_root getent group gateway-queue >/dev/null || fail "the group gateway-queue is left"
if grep -q '^gateway-queue:' "$root/etc/shadow" "$root/etc/gshadow"; then
  fail "/etc/shadow or /etc/gshadow still names gateway-queue"
fi
if in_root dpkg -S gateway-queue >"$work/dpkg-S.txt" 2>&1; then
  cat "$work/dpkg-S.txt" >&2
  fail "dpkg -S gateway-queue still finds files"
fi
# dpkg's own records of the package (left out of the comparison below with the rest of dpkg's
# database): no maintainer scripts or file lists kept, the package not even known as removed.
if compgen -G "$root/var/lib/dpkg/info/gateway-queue.*" >/dev/null; then
  fail "dpkg keeps $(cd "$root/var/lib/dpkg/info" && echo gateway-queue.*)"
fi
status="$(in_root dpkg-query -W -f='${Status}' gateway-queue 2>/dev/null || true)"
case "$status" in
  "" | "unknown ok not-installed") ;;
  *) fail "dpkg still knows gateway-queue: $status" ;;
esac
snapshot >"$work/after.txt"
if ! diff -u "$work/before.txt" "$work/after.txt" >"$work/leftovers.diff"; then
  cat "$work/leftovers.diff" >&2
  fail "the root differs after the purge (+ left, - lost)"
fi
echo "purge: nothing left ($(wc -l <"$work/before.txt") paths as before the install)"

printf '\nPASS: package %s, %s bytes (%s KiB); lintian %s; root tarball %s s; install %s s; %s\n' \
  "$(basename "$deb")" "$package_size" "$((package_size / 1024))" "$lintian_result" \
  "$tarball_seconds" "$install_seconds" "test $((SECONDS - started)) s"
