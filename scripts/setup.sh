#!/usr/bin/env bash
# Installs the Debian 12 packages gateway-queue builds, tests and benchmarks with.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ca-certificates
  libcaf-dev libcpp-httplib-dev libhttp-parser-dev libssl-dev
  libsqlite3-dev sqlite3 nlohmann-json3-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev python3
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
