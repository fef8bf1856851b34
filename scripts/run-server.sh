#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds the server and runs it with its defaults
# (127.0.0.1:5000, journal ./gateway-queue.db, limits from the configuration: no token needed).
# Arguments are passed to the server, e.g. scripts/run-server.sh --port 5001.
#   SERVER_BUILD_DIR  build directory (default: build-server)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# A build directory of its own: configuring build/ without tests would leave scripts/test.sh a
# cached GQ_BUILD_TESTS=OFF.
build="${SERVER_BUILD_DIR:-build-server}"
cmake -S . -B "$build" -DGQ_BUILD_TESTS=OFF -DGQ_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target gateway-queue
exec "./$build/gateway-queue" "$@"
