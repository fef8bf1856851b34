"""Checks deploy/grafana/gateway-queue.json, the Grafana dashboard, without a Grafana server:

- it is JSON with the shape Grafana imports (title, uid, panels with unique ids on a 24-column
  grid that do not overlap, a `datasource` template variable that every panel and query uses);
- every PromQL expression parses: promtool has no command that checks a bare expression, so each
  one (Grafana's variables replaced by values of the same kind) becomes a recording rule in a
  generated file and `promtool check rules` parses them all;
- every metric it names is one the server exports, and each metric the operator needs is shown;
- a `bot` template variable (multi-select, with All) lists the bots, every selector of a bot's
  series filters on it (`bot=~"$bot"`), and no selector of a queue-wide series does (those carry
  no `bot` label: the filter would empty the panel).

usage: check_grafana_dashboard.py DASHBOARD_JSON
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# The names /metrics exports (docs/HTTP_API.md). Histograms are read through their series.
GAUGES_AND_COUNTERS = {
    "gateway_queue_waiting", "gateway_queue_bucket_waiting", "gateway_queue_grants_total",
    "gateway_queue_hangups_total", "gateway_queue_connections", "gateway_queue_rejections_total",
    "gateway_queue_discord_refreshes_total", "gateway_queue_discord_up",
    "gateway_queue_journal_failures_total", "gateway_queue_remaining_sessions",
    "gateway_queue_total_sessions", "gateway_queue_max_concurrency", "gateway_queue_limits_known",
    "gateway_queue_reset_timestamp_seconds", "gateway_queue_reset_seconds",
    "gateway_queue_identify_interval_seconds", "gateway_queue_last_grant_timestamp_seconds",
    "gateway_queue_build_info", "gateway_queue_auth_required", "gateway_queue_active",
    "gateway_queue_outcomes_total", "gateway_queue_bucket_interval_seconds",
    "gateway_queue_widened_buckets", "gateway_queue_looping_shards",
    "gateway_queue_reserve_sessions",
}
HISTOGRAMS = {"gateway_queue_journal_commit_seconds", "gateway_queue_wait_seconds"}
# The series of a bot's queue, labelled `bot` (docs/METRICS.md, "Per bot"); the others are
# queue-wide and carry no `bot`.
PER_BOT = {
    "gateway_queue_waiting", "gateway_queue_bucket_waiting", "gateway_queue_grants_total",
    "gateway_queue_last_grant_timestamp_seconds", "gateway_queue_wait_seconds",
    "gateway_queue_remaining_sessions", "gateway_queue_total_sessions",
    "gateway_queue_max_concurrency", "gateway_queue_limits_known",
    "gateway_queue_reset_timestamp_seconds", "gateway_queue_reset_seconds",
    "gateway_queue_identify_interval_seconds", "gateway_queue_bucket_interval_seconds",
    "gateway_queue_widened_buckets", "gateway_queue_looping_shards",
    "gateway_queue_reserve_sessions", "gateway_queue_discord_refreshes_total",
    "gateway_queue_discord_up",
}
assert PER_BOT <= GAUGES_AND_COUNTERS | HISTOGRAMS
KNOWN_METRICS = GAUGES_AND_COUNTERS | {
    h + suffix for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}

# What an operator looks for on this dashboard: each must be shown by some query.
REQUIRED = {
    "waiting per bucket": r"gateway_queue_bucket_waiting\b",
    "grants per minute": r"rate\(gateway_queue_grants_total\b",
    "wait-time quantiles": r"histogram_quantile\(0\.\d+, .*gateway_queue_wait_seconds_bucket\b",
    "remaining budget": r"gateway_queue_remaining_sessions\b",
    "reset countdown": r"gateway_queue_reset_seconds\b",
    "journal commit time": r"histogram_quantile\(0\.\d+, .*gateway_queue_journal_commit_seconds_bucket\b",
    "rejections by reason": r"by \(reason\) \(rate\(gateway_queue_rejections_total\b",
    "Discord status": r"gateway_queue_discord_up\b",
    "which queue is active": r"gateway_queue_active\b",
}

# Grafana's variables, replaced by a value of the same kind so that the expression parses.
VARIABLES = {
    "$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
    "$instance": ".+", "${instance}": ".+", "$bot": ".+", "${bot}": ".+",
}
BOT_FILTER = re.compile(r'\bbot=~"\$(bot|\{bot\})"')

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan",
}

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def substitute(expr):
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    if "$" in expr:
        fail(f"unknown Grafana variable in {expr!r}")
    return expr


def metric_names(expr):
    """The metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string contents (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def family(name):
    """The metric family of a series name: a histogram's _bucket, _sum and _count folded."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
            return name[: -len(suffix)]
    return name


def check_bot_filters(title, expr):
    """Every selector of a bot's series filters on $bot; none of a queue-wide series names bot."""
    for match in re.finditer(r"(?<![\w:])(gateway_queue_[\w:]*)\s*(\{[^}]*\})?", expr):
        name, matchers = match.group(1), match.group(2) or ""
        if family(name) in PER_BOT:
            if not BOT_FILTER.search(matchers):
                fail(f"panel {title!r}: {name} without bot=~\"$bot\" in {expr!r}")
        elif re.search(r"\bbot\s*(=|!)", matchers):
            fail(f"panel {title!r}: {name} is queue-wide (no bot label) but filtered on bot")


def check_bot_variable(variables):
    bot = variables.get("bot") or fail("no template variable `bot`")
    if bot.get("type") != "query" or bot.get("datasource") != DATASOURCE:
        fail("variable `bot` must be a query of the datasource variable")
    if not (bot.get("multi") and bot.get("includeAll")):
        fail("variable `bot` must be multi-select and include All")
    query = bot.get("query", {}).get("query", "")
    source = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?, bot\)", query)
    if not source or source.group(1) not in PER_BOT:
        fail(f"variable `bot` must list label_values of a bot's series, not {query!r}")


def check_layout(dashboard):
    for key in ("title", "uid", "schemaVersion", "panels", "templating"):
        if key not in dashboard:
            fail(f"dashboard has no {key!r}")
    variables = {v.get("name"): v for v in dashboard["templating"].get("list", [])}
    source = variables.get("datasource")
    if not source or source.get("type") != "datasource" or source.get("query") != "prometheus":
        fail("no template variable `datasource` of type datasource for Prometheus")
    ids, cells = set(), {}
    for panel in dashboard["panels"]:
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            fail(f"panel id {panel.get('id')} used twice")
        ids.add(panel.get("id"))
        if panel.get("datasource") != DATASOURCE:
            fail(f"panel {title!r} does not use the datasource variable")
        grid = panel.get("gridPos", {})
        x, y, w, h = (grid.get(k) for k in ("x", "y", "w", "h"))
        if not all(isinstance(v, int) for v in (x, y, w, h)) or x < 0 or w < 1 or x + w > 24:
            fail(f"panel {title!r} has a bad gridPos {grid}")
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                if (cx, cy) in cells:
                    fail(f"panels {cells[(cx, cy)]!r} and {title!r} overlap")
                cells[(cx, cy)] = title
        targets = panel.get("targets") or fail(f"panel {title!r} has no queries")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            fail(f"panel {title!r} repeats a refId")
        for target in targets:
            if target.get("datasource") != DATASOURCE or not target.get("expr"):
                fail(f"a query of panel {title!r} has no expr or another datasource")
    return variables


def main():
    path = Path(sys.argv[1])
    try:
        dashboard = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        fail(f"{path}: {error}")
    variables = check_layout(dashboard)

    exprs = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    names = set()
    check_bot_variable(variables)
    for title, expr in exprs:
        check_bot_filters(title, expr)
        found = metric_names(substitute(expr))
        if not found:
            fail(f"panel {title!r}: no metric in {expr!r}")
        for name in found - KNOWN_METRICS:
            fail(f"panel {title!r}: {name!r} is not a metric the queue exports")
        names |= found
    if variables.get("instance", {}).get("datasource") != DATASOURCE:
        fail("variable `instance` does not use the datasource variable")
    query = variables.get("instance", {}).get("query", {})
    label_source = re.fullmatch(r"label_values\((\w+), instance\)", query.get("query", ""))
    if not label_source or label_source.group(1) not in KNOWN_METRICS:
        fail(f"variable `instance` must list label_values of a queue metric, not {query!r}")

    all_exprs = "\n".join(expr for _, expr in exprs)
    for what, pattern in REQUIRED.items():
        if not re.search(pattern, all_exprs):
            fail(f"no panel shows {what} (an expression matching {pattern!r})")

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "dashboard_exprs.yml"
        lines = ["groups:", "  - name: dashboard", "    rules:"]
        for index, (_, expr) in enumerate(exprs):
            lines += [f"      - record: dashboard:expr_{index}",
                      f"        expr: {json.dumps(substitute(expr))}"]
        rules.write_text("\n".join(lines) + "\n")
        result = subprocess.run(["promtool", "check", "rules", str(rules)],
                                capture_output=True, text=True, check=False)
        print(result.stdout + result.stderr, end="")
        if result.returncode != 0:
            fail("promtool could not parse every expression of the dashboard")

    print(f"{path.name}: {len(dashboard['panels'])} panels, {len(exprs)} expressions parse, "
          f"{len(names)} metrics, all exported by the queue")


if __name__ == "__main__":
    main()
