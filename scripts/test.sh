#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds everything and runs the whole test suite.
#   BUILD_DIR      build directory (default: build)
#   CMAKE_ARGS     extra CMake arguments, e.g. "-DGQ_SANITIZERS=address,undefined"
#   CTEST_ARGS     extra ctest arguments, e.g. "-LE integration" (skip the tests that start the server)
#   BUILD_TARGETS  targets to build instead of all, e.g. "gateway-queue integration_tests"
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
build="${BUILD_DIR:-build}"
# Ninja, and ccache in front of the compiler: a build made while developing leaves its objects in
# ccache's store, so a fresh clone elsewhere on the same machine (CI) compiles only what changed.
# The base directory makes the clone's absolute paths relative, so they match. The precompiled
# headers (CMakeLists.txt) are cacheable only with these sloppiness settings (ccache's manual,
# "Precompiled headers"); otherwise every file that uses one is compiled anew each time.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
generator=()
[ -f "$build/CMakeCache.txt" ] || generator=(-G Ninja)  # an existing directory keeps its own
# Tests on explicitly: a directory configured without them keeps GQ_BUILD_TESTS=OFF in its cache.
# shellcheck disable=SC2086
cmake -S . -B "$build" "${generator[@]}" -DGQ_BUILD_TESTS=ON -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  ${CMAKE_ARGS:-}
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
# Unit and actor tests run in parallel; integration tests are marked RUN_SERIAL.
# --no-tests=error: a run that found no tests is a failure, not a pass.
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure --no-tests=error -j"$(nproc)" ${CTEST_ARGS:-}
