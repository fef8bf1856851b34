#!/usr/bin/env bash
# Installs the Debian 12 packages gateway-queue needs, in two sets:
#   scripts/setup.sh          what the server builds with (scripts/run-server.sh, the image)
#   scripts/setup.sh --tests  that, and what the tests, benchmarks and CI run with (scripts/test.sh)
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

root="$(dirname "$0")/.."
with_tests=false
case "${1:-}" in
  "") ;;
  --tests) with_tests=true ;;
  *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac

# What the server builds with.
packages=(
  build-essential cmake pkg-config ca-certificates
  libcaf-dev libcpp-httplib-dev libhttp-parser-dev libssl-dev
  libsqlite3-dev sqlite3 nlohmann-json3-dev libcli11-dev libspdlog-dev
  libpq-dev                          # the PostgreSQL journal (libpq)
  libtomlplusplus-dev                # the bots file (QUEUE_BOTS_FILE)
)

if $with_tests; then
  packages+=(
    git                              # the version names its commit (cmake/version.cmake)
    ninja-build ccache               # faster and cached builds (scripts/test.sh)
    libgtest-dev libgmock-dev python3
    python3-discord python3-aiohttp  # the discord.py end-to-end test (tests/e2e)
    prometheus                       # promtool: /metrics and the alert rules
    systemd strace                   # systemd-analyze and the unit's system-call filter
    chromium                         # the dashboard test loads GET /dashboard headless
    clang libclang-rt-14-dev         # libFuzzer targets (scripts/fuzz.sh)
    jq                               # bench/run.sh burst: machine stalls within its windows
    postgresql                       # server 15: throwaway clusters for the PostgreSQL journal tests
    haproxy                          # deploy/haproxy/haproxy.cfg run in front of two queues
    pgbouncer                        # the journal refuses a pooler that shares sessions
    debootstrap lintian curl         # the Debian package, installed in a throwaway root
    podman runc                      # the container image, built and run (runc: crun refuses
                                     # some cgroup layouts)
  )
  # Node and npm for the deploy checks and the discord.js end-to-end test: Debian's, unless a
  # node and npm are already on PATH (a Node.js from elsewhere bundles npm and conflicts with
  # Debian's npm package).
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -ne 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Kubernetes API schemas the manifest check validates against, pinned by package-lock.json
# (about 20 s, once; again only when the lock file changes).
checks="$root/tests/deploy"
if $with_tests && [ -f "$checks/package-lock.json" ] &&
   ! cmp -s "$checks/package-lock.json" "$checks/node_modules/.setup-installed-lock.json"; then
  echo "setup: installing the deploy checks' npm packages"
  npm ci --prefix "$checks" --no-audit --no-fund --loglevel=error
  cp "$checks/package-lock.json" "$checks/node_modules/.setup-installed-lock.json"
fi
