#!/usr/bin/env bash
# The README's test command must run the tests whatever ran before it. A new user runs
# scripts/run-server.sh and then scripts/test.sh on a fresh clone; this replays that sequence in a
# copy of the source tree, with cmake's builds and ctest replaced by stand-ins (only the real
# configure steps run, which is what decides whether tests exist), and checks what ctest was
# asked to do: run a directory configured with tests, and fail when it finds none.
# Usage: test_command_test.sh SOURCE_DIR
set -euo pipefail
# A fresh clone's defaults, whatever the run that started this test set.
unset BUILD_DIR CMAKE_ARGS CTEST_ARGS SERVER_BUILD_DIR
source_dir="$(cd "$1" && pwd)"
real_cmake="$(command -v cmake)"
work="$(mktemp -d /tmp/gq-test-command-XXXXXX)"
trap 'rm -rf "$work"' EXIT

# The tracked tree, without build directories or journals.
mkdir "$work/src" "$work/bin"
tar -C "$source_dir" --exclude='./build*' --exclude='./.git' --exclude='*.db*' -cf - . |
  tar -C "$work/src" -xf -
# Packages are the setup script's business, tested by CI's fresh machine; not needed here.
printf '#!/bin/sh\nexit 0\n' >"$work/src/scripts/setup.sh"

# cmake: configure for real; `--build DIR` only leaves a stand-in server binary that exits 0.
cat >"$work/bin/cmake" <<STUB
#!/usr/bin/env bash
if [ "\${1:-}" = "--build" ]; then
  printf '#!/bin/sh\nexit 0\n' >"\$2/gateway-queue" && chmod +x "\$2/gateway-queue"
  exit 0
fi
exec "$real_cmake" "\$@" >/dev/null
STUB
# ctest: record the arguments; the checks below judge them.
cat >"$work/bin/ctest" <<STUB
#!/usr/bin/env bash
printf '%s\n' "\$@" >"$work/ctest-args"
STUB
chmod +x "$work/bin/cmake" "$work/bin/ctest"

cd "$work/src"
PATH="$work/bin:$PATH" scripts/run-server.sh
PATH="$work/bin:$PATH" scripts/test.sh

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
[ -f "$work/ctest-args" ] || fail "scripts/test.sh never ran ctest"
test_dir="$(sed -n '/^--test-dir$/{n;p}' "$work/ctest-args")"
[ -n "$test_dir" ] || fail "ctest was not given --test-dir"
cache="$work/src/$test_dir/CMakeCache.txt"
[ -f "$cache" ] || fail "ctest runs $test_dir, which scripts/test.sh did not configure"
grep -qx 'GQ_BUILD_TESTS:BOOL=ON' "$cache" ||
  fail "ctest runs $test_dir, configured with $(grep '^GQ_BUILD_TESTS' "$cache"): no tests to run"
grep -qx -- '--no-tests=error' "$work/ctest-args" ||
  fail "ctest is not told --no-tests=error: a run that finds no tests would pass"
echo "ok: after run-server.sh, test.sh runs $test_dir with tests on and --no-tests=error"
