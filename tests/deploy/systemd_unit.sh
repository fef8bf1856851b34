#!/usr/bin/env bash
# Checks deploy/systemd/gateway-queue.service with systemd's own tools:
#   systemd-analyze verify    the unit parses, every setting is known and valid;
#   systemd-analyze security  its exposure score stays at or below the measured 1.1.
# usage: systemd_unit.sh DEPLOY_DIR GATEWAY_QUEUE_BINARY
set -euo pipefail
deploy="$1"
binary="$2"
unit="$deploy/systemd/gateway-queue.service"

# Exposure is reported on a 0.0-10.0 scale; --threshold takes tenths (11 = 1.1). Lower it when the
# unit gets tighter; never raise it to let a loosened setting pass.
max_exposure_tenths=11

# verify fails when ExecStart's binary does not exist, and the unit names where it is installed
# (/usr/local/bin). So the check runs on a copy whose ExecStart is the binary this build made:
# the rest of the unit is byte for byte the committed one.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
grep -q '^ExecStart=/usr/local/bin/gateway-queue$' "$unit" || {
  echo "FAIL: $unit must start /usr/local/bin/gateway-queue"
  exit 1
}
sed "s#^ExecStart=/usr/local/bin/gateway-queue\$#ExecStart=$binary#" "$unit" >"$work/gateway-queue.service"

# verify prints its complaints on stderr and may still exit 0 for some of them: any output fails.
if ! systemd-analyze verify "$work/gateway-queue.service" >"$work/verify.log" 2>&1 || [ -s "$work/verify.log" ]; then
  echo "FAIL: systemd-analyze verify:"
  cat "$work/verify.log"
  exit 1
fi
echo "systemd-analyze verify: no complaints"

for setting in DynamicUser=yes StateDirectory=gateway-queue ProtectSystem=strict NoNewPrivileges=yes \
  'Environment=QUEUE_DB=/var/lib/gateway-queue/gateway-queue.db' Restart=on-failure KillSignal=SIGTERM; do
  grep -qx "$setting" "$unit" || { echo "FAIL: $unit lacks $setting"; exit 1; }
done
nofile="$(sed -n 's/^LimitNOFILE=//p' "$unit")"
[ "${nofile:-0}" -ge 20000 ] || { echo "FAIL: LimitNOFILE=$nofile holds too few waiting connections"; exit 1; }

status=0
systemd-analyze security --offline=true --threshold="$max_exposure_tenths" \
  "$work/gateway-queue.service" >"$work/security.log" 2>&1 || status=$?
grep 'Overall exposure level' "$work/security.log"
if [ "$status" -ne 0 ]; then
  echo "FAIL: exposure above $max_exposure_tenths tenths; the settings that cost most:"
  grep '✗' "$work/security.log" || true
  exit 1
fi
