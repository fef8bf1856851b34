#!/usr/bin/env bash
# Checks deploy/kubernetes against the Kubernetes API schemas (npm kubernetes-models, installed by
# scripts/setup.sh; nothing is fetched here) and against what the queue needs: see
# check_kubernetes.js.
# usage: kubernetes_manifests.sh KUBERNETES_DIR
#        kubernetes_manifests.sh --refusals SQLITE_DIR POSTGRESQL_DIR   (see kubernetes_refusals.js)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -d "$here/node_modules/kubernetes-models" ]; then
  echo "FAIL: kubernetes-models is not installed in $here/node_modules: run scripts/setup.sh"
  exit 1
fi
if [ "$1" = --refusals ]; then
  exec node "$here/kubernetes_refusals.js" "$2" "$3"
fi
exec node "$here/check_kubernetes.js" "$1"
