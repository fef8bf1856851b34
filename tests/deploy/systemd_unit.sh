#!/usr/bin/env bash
# Checks deploy/systemd/gateway-queue.service with systemd's own tools:
#   systemd-analyze verify    the unit parses, alone and with its drop-ins (discord-token.conf,
#                             auth-token.conf), every setting is known and valid;
#   systemd-analyze security  its exposure score stays at or below the measured 1.1;
# and how the secrets reach the service: as systemd credentials only (see secret_problems), with
# changed copies that must be refused.
# usage: systemd_unit.sh DEPLOY_DIR GATEWAY_QUEUE_BINARY
set -euo pipefail
deploy="$1"
binary="$2"
unit="$deploy/systemd/gateway-queue.service"
dropins=(discord-token.conf auth-token.conf)

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
verify() {
  if ! systemd-analyze verify "$work/gateway-queue.service" >"$work/verify.log" 2>&1 || [ -s "$work/verify.log" ]; then
    echo "FAIL: systemd-analyze verify$1:"
    cat "$work/verify.log"
    exit 1
  fi
}
verify ""
# verify reads the drop-ins of gateway-queue.service.d next to the unit, as systemd does.
mkdir "$work/gateway-queue.service.d"
for dropin in "${dropins[@]}"; do
  [ -f "$deploy/systemd/$dropin" ] || { echo "FAIL: $deploy/systemd/$dropin is missing"; exit 1; }
  cp "$deploy/systemd/$dropin" "$work/gateway-queue.service.d/"
done
verify " (with ${dropins[*]})"
rm -r "$work/gateway-queue.service.d"
echo "systemd-analyze verify: no complaints, alone and with ${dropins[*]}"

for setting in DynamicUser=yes StateDirectory=gateway-queue ProtectSystem=strict NoNewPrivileges=yes \
  'Environment=QUEUE_DB=/var/lib/gateway-queue/gateway-queue.db' Restart=on-failure KillSignal=SIGTERM; do
  grep -qx "$setting" "$unit" || { echo "FAIL: $unit lacks $setting"; exit 1; }
done
nofile="$(sed -n 's/^LimitNOFILE=//p' "$unit")"
[ "${nofile:-0}" -ge 20000 ] || { echo "FAIL: LimitNOFILE=$nofile holds too few waiting connections"; exit 1; }

# How the secrets reach the service: only as systemd credentials. LoadCredential= reads a root-only
# file when the service starts and copies it into the service's credentials directory (%d), which
# only the service's DynamicUser can read; a *_FILE variable names the copy. So, in DIR (the unit,
# the environment file and the drop-ins):
#   - no secret as a value, set or suggested: Environment= is shown to every user by `systemctl
#     show`, and any variable is in /proc/PID/environ; SetCredential= is readable over IPC;
#   - every *_FILE in the unit or a drop-in names a credential (%d/ID) that a LoadCredential= loads;
#     any other file the DynamicUser could read only if every user could;
#   - no *_FILE in the environment file, set or suggested: EnvironmentFile= wins over Environment=,
#     so it would replace the drop-in's credential.
# Prints one line per problem, never a value: it may be a real secret.
secret_problems() {
  local dir="$1" file name entry var id
  for file in "$dir/gateway-queue.service" "$dir/gateway-queue.env" "$dir"/*.conf; do
    name="$(basename "$file")"
    grep -Eno '^[#[:space:]]*(Environment=)?"?(DISCORD_TOKEN|QUEUE_AUTH_TOKEN|PGPASSWORD)=' "$file" |
      sed "s/^/$name: a secret as a value in the environment, line /" || true
    grep -Eno '^[#[:space:]]*SetCredential(Encrypted)?=' "$file" |
      sed "s/^/$name: SetCredential= is readable over IPC, line /" || true
  done
  grep -Eno '^[#[:space:]]*[A-Z_]+_FILE=' "$dir/gateway-queue.env" |
    sed 's/^/gateway-queue.env: a *_FILE overrides the drop-in'"'"'s credential, line /' || true
  for file in "$dir/gateway-queue.service" "$dir"/*.conf; do
    name="$(basename "$file")"
    while read -r entry; do
      var="${entry%%=*}"
      case "${entry#*=}" in
        %d/*)
          id="${entry#*=%d/}"
          grep -qE "^LoadCredential=$id:/" "$dir/gateway-queue.service" "$dir"/*.conf ||
            echo "$name: $var names the credential $id, which no LoadCredential= loads"
          ;;
        *) echo "$name: $var=${entry#*=} is not a credential (%d/ID)" ;;
      esac
    done < <(sed -n 's/^Environment="\{0,1\}\([A-Z_]*_FILE=[^" ]*\).*/\1/p' "$file")
  done
}
for setting in 'discord-token.conf:LoadCredential=discord-token:/etc/gateway-queue/discord-token' \
  'discord-token.conf:Environment=DISCORD_TOKEN_FILE=%d/discord-token' \
  'auth-token.conf:LoadCredential=auth-token:/etc/gateway-queue/auth-token' \
  'auth-token.conf:Environment=QUEUE_AUTH_TOKEN_FILE=%d/auth-token'; do
  grep -qx -- "${setting#*:}" "$deploy/systemd/${setting%%:*}" ||
    { echo "FAIL: $deploy/systemd/${setting%%:*} lacks ${setting#*:}"; exit 1; }
done
problems="$(secret_problems "$deploy/systemd")"
[ -z "$problems" ] || { echo "FAIL: secrets:"; echo "$problems"; exit 1; }
# Each change below must be refused with the expected problem: FILE, sed expression, pattern.
# shellcheck disable=SC2016 # `$a` is sed's (append after the last line), not the shell's
refusals=(
  'gateway-queue.env|$a DISCORD_TOKEN=bot-token|a secret as a value in the environment'
  'gateway-queue.env|$a #QUEUE_AUTH_TOKEN=|a secret as a value in the environment'
  'gateway-queue.service|/^\[Service\]/a Environment=DISCORD_TOKEN=bot-token|a secret as a value'
  'auth-token.conf|$a SetCredential=auth-token:bearer|SetCredential= is readable over IPC'
  'gateway-queue.env|$a DISCORD_TOKEN_FILE=/etc/gateway-queue/discord-token|overrides the drop-in'
  'discord-token.conf|/^LoadCredential=/d|DISCORD_TOKEN_FILE names the credential discord-token, which no LoadCredential= loads'
  'auth-token.conf|s#=%d/auth-token#=/etc/gateway-queue/auth-token#|QUEUE_AUTH_TOKEN_FILE=/etc/gateway-queue/auth-token is not a credential'
)
for refusal in "${refusals[@]}"; do
  IFS='|' read -r file change expect <<<"$refusal"
  rm -rf "$work/changed" && cp -r "$deploy/systemd" "$work/changed"
  sed -i "$change" "$work/changed/$file"
  problems="$(secret_problems "$work/changed")"
  grep -qF -- "$expect" <<<"$problems" ||
    { echo "FAIL: secrets: $file changed by '$change' should be refused ($expect), problems: ${problems:-none}"; exit 1; }
done
echo "secrets: only as credentials (${dropins[*]}); ${#refusals[@]} changed copies refused"

status=0
systemd-analyze security --offline=true --threshold="$max_exposure_tenths" \
  "$work/gateway-queue.service" >"$work/security.log" 2>&1 || status=$?
grep 'Overall exposure level' "$work/security.log"
if [ "$status" -ne 0 ]; then
  echo "FAIL: exposure above $max_exposure_tenths tenths; the settings that cost most:"
  grep '✗' "$work/security.log" || true
  exit 1
fi
