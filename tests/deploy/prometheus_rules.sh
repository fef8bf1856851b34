#!/usr/bin/env bash
# Checks deploy/prometheus/alerts.yml with Prometheus's own promtool: the rules parse
# (`check rules`) and each alert fires, or stays quiet, as alerts_test.yml says (`test rules`).
# usage: prometheus_rules.sh DEPLOY_DIR
set -euo pipefail
cd "$1/prometheus"
promtool check rules alerts.yml
promtool test rules alerts_test.yml
