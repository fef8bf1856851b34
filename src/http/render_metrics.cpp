// GET /metrics: the Prometheus text format 0.0.4. Names, types and meanings: docs/METRICS.md
// (alerts and dashboards are written against these names: never rename one).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>

#include "src/core/version.hpp"
#include "src/http/render.hpp"

namespace gq {

namespace {

// Doubles hold every integer up to 2^53 exactly; beyond it "integral" says nothing.
constexpr double k_exact_integers = 9007199254740992.0;

// Writes metric families: each one's HELP and TYPE once, then its samples.
class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
    out_.append(name).append(" ").append(type).append("\n");
  }
  // `labels` is empty or `{name="value",...}` (values are ours: digits and fixed words).
  void sample(std::string_view name, std::string_view labels, const std::string& value) {
    out_.append(name).append(labels).append(" ").append(value).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    sample(name, labels, format_sample(value));
  }
  template <class T>
  void single(std::string_view name, std::string_view type, std::string_view help, T value) {
    family(name, type, help);
    sample(name, "", value);
  }
  void histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                 const std::vector<std::uint64_t>& counts, std::uint64_t above, double sum) {
    family(name, "histogram", help);
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      cumulative += i < counts.size() ? counts[i] : 0;
      sample(bucket, "{le=\"" + format_sample(bounds[i]) + "\"}", cumulative);
    }
    cumulative += above;
    sample(bucket, "{le=\"+Inf\"}", cumulative);
    sample(std::string(name) + "_sum", "", sum);
    sample(std::string(name) + "_count", "", cumulative);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

double seconds(unix_ms ms) { return static_cast<double>(ms) / 1000.0; }

}  // namespace

std::string format_sample(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < k_exact_integers)
    return std::to_string(static_cast<std::int64_t>(value));
  // Shortest round-trip digits; positional notation across the range metrics live in (so a
  // bucket bound reads le="0.0001", as Prometheus' own clients print it), exponent outside it.
  char buffer[64];
  const double magnitude = std::fabs(value);
  const auto written =
      magnitude >= 1e-6 && magnitude < 1e15
          ? std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed)
          : std::to_chars(buffer, buffer + sizeof buffer, value);
  return {buffer, written.ptr};
}

const char* to_string(rejection reason) {
  switch (reason) {
    case rejection::full:
      return "full";
    case rejection::exhausted:
      return "exhausted";
    case rejection::auth:
      return "auth";
    case rejection::bad_request:
      return "bad_request";
    case rejection::journal:
      return "journal";
    case rejection::shutdown:
      return "shutdown";
    case rejection::standby:
      return "standby";
    case rejection::late:
      return "late";
    case rejection::looping:
      return "looping";
    case rejection::reserve:
      return "reserve";
  }
  return "unknown";
}

std::string render_metrics(const queue_status& status, const edge_counters& edge, unix_ms now) {
  const auto& ledger = status.ledger;
  std::uint64_t waiting = 0;
  for (const auto& b : status.buckets) waiting += b.waiting;
  exposition out;

  out.single("gateway_queue_active", "gauge",
             "1 while this process holds the journal and paces waiters, 0 on a standby.",
             std::uint64_t{edge.active ? 1U : 0U});
  // -- waiters and grants --
  out.single("gateway_queue_waiting", "gauge", "Shards waiting for a grant.", waiting);
  out.family("gateway_queue_bucket_waiting", "gauge", "Shards waiting, per bucket.");
  for (const auto& b : status.buckets)
    out.sample("gateway_queue_bucket_waiting", "{bucket=\"" + std::to_string(b.bucket) + "\"}",
               b.waiting);
  out.single("gateway_queue_grants_total", "counter", "Grants journaled and sent by this process.",
             ledger.grants_total);
  out.single("gateway_queue_last_grant_timestamp_seconds", "gauge",
             "Unix time of this process's last grant; 0 before the first.",
             seconds(ledger.last_grant_at));
  out.single("gateway_queue_hangups_total", "counter",
             "Waiters dropped because their client disconnected.", edge.hangups_total);
  out.family("gateway_queue_rejections_total", "counter",
             "Requests refused, by reason: full (503), exhausted (429), auth (401), bad_request "
             "(4xx), journal (503), shutdown (503), standby (503), late (503), looping (429), "
             "reserve (429).");
  for (std::size_t i = 0; i < k_rejection_kinds; ++i) {
    const auto reason = static_cast<rejection>(i);
    out.sample("gateway_queue_rejections_total",
               std::string("{reason=\"") + to_string(reason) + "\"}", edge.rejected(reason));
  }
  out.single("gateway_queue_rejected_full_total", "counter",
             "Requests refused with 503 because QUEUE_MAX_WAITING waiters were held (also "
             "gateway_queue_rejections_total{reason=\"full\"}).",
             edge.rejected(rejection::full));
  out.single("gateway_queue_connections", "gauge", "Open client connections.", edge.connections);
  out.histogram("gateway_queue_wait_seconds", "Time from a request's arrival to its grant.",
                wait_histogram_bounds(), ledger.wait_counts, ledger.wait_count_inf,
                ledger.wait_sum_seconds);

  // -- limits and the daily budget --
  out.single("gateway_queue_remaining_sessions", "gauge",
             "Session starts left before the daily reset (effective remaining).",
             std::uint64_t{ledger.limits.remaining});
  out.single("gateway_queue_total_sessions", "gauge", "Session starts per daily window.",
             std::uint64_t{ledger.limits.total});
  out.single("gateway_queue_max_concurrency", "gauge", "Buckets (Discord's max_concurrency).",
             std::uint64_t{status.max_concurrency});
  out.single("gateway_queue_limits_known", "gauge",
             "1 once limits are known, 0 while grants are held for them.",
             std::uint64_t{ledger.limits_known ? 1u : 0u});
  out.single("gateway_queue_reset_timestamp_seconds", "gauge",
             "Unix time at which the daily budget refills; 0 while limits are unknown.",
             seconds(ledger.limits_known ? ledger.limits.reset_at : 0));
  out.single("gateway_queue_reset_seconds", "gauge",
             "Seconds until the daily budget refills (0 while limits are unknown).",
             seconds(ledger.limits_known ? std::max<unix_ms>(0, ledger.limits.reset_at - now) : 0));
  out.single("gateway_queue_identify_interval_seconds", "gauge",
             "Spacing of grants within one bucket (QUEUE_IDENTIFY_INTERVAL_MS).",
             seconds(status.identify_interval_ms));

  // -- past the gate: what grants became, widening, the loop guard, the reserve --
  out.family("gateway_queue_outcomes_total", "counter",
             "Outcomes shards reported on their grants (POST /outcome), by result.");
  for (auto result :
       {outcome_result::ready, outcome_result::invalid_session, outcome_result::closed}) {
    out.sample("gateway_queue_outcomes_total",
               "{result=\"" + std::string(to_string(result)) + "\"}",
               edge.outcomes[static_cast<std::size_t>(result)]);
  }
  out.family("gateway_queue_bucket_interval_seconds", "gauge",
             "Spacing of grants in each bucket now: the interval, widened after Invalid Sessions.");
  std::uint64_t widened = 0;
  for (const auto& b : status.buckets) {
    out.sample("gateway_queue_bucket_interval_seconds",
               "{bucket=\"" + std::to_string(b.bucket) + "\"}", seconds(b.interval_ms));
    if (b.interval_ms > status.identify_interval_ms) ++widened;
  }
  out.single("gateway_queue_widened_buckets", "gauge",
             "Buckets spaced wider than the interval after reported Invalid Sessions.", widened);
  out.single("gateway_queue_looping_shards", "gauge",
             "Shards the loop guard refuses now (QUEUE_SHARD_HOURLY_LIMIT grants in the last "
             "hour).",
             std::uint64_t{ledger.looping.size()});
  out.single("gateway_queue_reserve_sessions", "gauge",
             "Session starts kept for reconnects: boots (initial=true) are not granted from them.",
             std::uint64_t{ledger.reserve});

  // -- Discord --
  out.family("gateway_queue_discord_refreshes_total", "counter",
             "Reads of Discord's GET /gateway/bot by result.");
  const std::pair<const char*, std::uint64_t> refreshes[] = {
      {"ok", ledger.refreshes.ok},
      {"error", ledger.refreshes.error},
      {"rate_limited", ledger.refreshes.rate_limited},
      {"unauthorized", ledger.refreshes.unauthorized},
  };
  for (const auto& [result, count] : refreshes)
    out.sample("gateway_queue_discord_refreshes_total", std::string("{result=\"") + result + "\"}",
               count);
  out.single("gateway_queue_discord_up", "gauge",
             "1 when the last read of Discord's limits succeeded (or limits come from the "
             "configuration), 0 while reads fail or after the token was rejected.",
             std::uint64_t{ledger.discord_up && !ledger.discord_stopped ? 1u : 0u});

  // -- journal --
  out.histogram("gateway_queue_journal_commit_seconds",
                "Duration of each journal transaction (grants due together share one).",
                commit_histogram_bounds(), ledger.commit_seconds.counts,
                ledger.commit_seconds.above, ledger.commit_seconds.sum);
  out.single("gateway_queue_journal_failures_total", "counter",
             "Journal commits that failed (their waiters got 503).", ledger.journal_failures);

  // -- the process --
  out.family("gateway_queue_build_info", "gauge",
             "The running version and the commit it was built from; always 1.");
  out.sample("gateway_queue_build_info",
             "{version=\"" + std::string(build_version()) + "\",commit=\"" +
                 std::string(build_commit()) + "\"}",
             std::uint64_t{1});
  out.single("gateway_queue_auth_required", "gauge",
             "1 when requests need a bearer token (QUEUE_AUTH_TOKEN is set).",
             std::uint64_t{edge.auth_required ? 1u : 0u});
  return out.take();
}

}  // namespace gq
