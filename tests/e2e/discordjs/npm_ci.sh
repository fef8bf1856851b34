#!/usr/bin/env bash
# Installs clients/discordjs's pinned dependencies with `npm ci` from its committed lockfile.
# Skipped when node_modules already holds exactly this lockfile's install (a stamp beside it).
set -euo pipefail
cd "$(dirname "$0")/../../../clients/discordjs"
stamp=node_modules/.installed-package-lock.json
if cmp -s package-lock.json "$stamp"; then
  echo "npm ci: node_modules matches package-lock.json"
  exit 0
fi
npm ci --no-audit --no-fund
cp package-lock.json "$stamp"
