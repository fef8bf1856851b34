// GET /metrics: the Prometheus text format 0.0.4. Names, types and meanings: docs/METRICS.md
// (alerts and dashboards are written against these names: never rename one).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/core/version.hpp"
#include "src/http/render.hpp"

namespace gq {

namespace {

// Doubles hold every integer up to 2^53 exactly; beyond it "integral" says nothing.
constexpr double k_exact_integers = 9007199254740992.0;

// A label value as the text format quotes it: backslash, double quote and newline escaped. Bot
// names ([a-z0-9_-]) and our fixed words need none of it; the build's version and commit come
// from outside the code.
std::string label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// `{first,second}` from label pairs already written as name="value"; either may be empty.
std::string braces(std::string_view first, std::string_view second = {}) {
  if (first.empty() && second.empty()) return {};
  std::string out{"{"};
  out.append(first);
  if (!first.empty() && !second.empty()) out += ',';
  out.append(second).append("}");
  return out;
}

std::string bucket_label(std::uint32_t bucket) {
  return "bucket=\"" + std::to_string(bucket) + "\"";
}

// Writes metric families: each one's HELP and TYPE once, then its samples (the text format
// wants a family's samples together, so every bot's sample of a family follows its header).
class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
    out_.append(name).append(" ").append(type).append("\n");
  }
  // `labels` is empty or `{name="value",...}` with escaped values.
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
  // One histogram's series under the family `name` (declared before), each with `labels`
  // (name="value" pairs, may be empty) ahead of `le`.
  void histogram_samples(std::string_view name, std::string_view labels,
                         const std::vector<double>& bounds,
                         const std::vector<std::uint64_t>& counts, std::uint64_t above,
                         double sum) {
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      cumulative += i < counts.size() ? counts[i] : 0;
      sample(bucket, braces(labels, "le=\"" + format_sample(bounds[i]) + "\""), cumulative);
    }
    cumulative += above;
    sample(bucket, braces(labels, "le=\"+Inf\""), cumulative);
    sample(std::string(name) + "_sum", braces(labels), sum);
    sample(std::string(name) + "_count", braces(labels), cumulative);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

double seconds(unix_ms ms) { return static_cast<double>(ms) / 1000.0; }

// One bot as its samples name it: `bot="NAME"`, written once for all its samples.
struct labelled_bot {
  std::string label;
  const queue_status& status;
  std::uint64_t waiting;
};

const queue_status& status_or_empty(const queue_status* status) {
  static const queue_status k_empty;
  return status ? *status : k_empty;
}

// A family with one sample per bot: `value_of(bot)`.
template <class ValueOf>
void per_bot(exposition& out, std::span<const labelled_bot> bots, std::string_view name,
             std::string_view type, std::string_view help, ValueOf value_of) {
  out.family(name, type, help);
  for (const auto& bot : bots) out.sample(name, braces(bot.label), value_of(bot));
}

// A family with one sample per bucket of each bot: `value_of(bucket_status)`.
template <class ValueOf>
void per_bucket(exposition& out, std::span<const labelled_bot> bots, std::string_view name,
                std::string_view help, ValueOf value_of) {
  out.family(name, "gauge", help);
  for (const auto& bot : bots)
    for (const auto& b : bot.status.buckets)
      out.sample(name, braces(bot.label, bucket_label(b.bucket)), value_of(b));
}

std::uint64_t widened_buckets(const queue_status& status) {
  std::uint64_t widened = 0;
  for (const auto& b : status.buckets)
    if (b.interval_ms > status.identify_interval_ms) ++widened;
  return widened;
}

// The series of each bot's own queue, every sample labelled with its bot.
void render_bots(exposition& out, std::span<const labelled_bot> bots, unix_ms now) {
  // -- waiters and grants --
  per_bot(out, bots, "gateway_queue_waiting", "gauge", "Shards waiting for a grant, per bot.",
          [](const labelled_bot& bot) { return bot.waiting; });
  per_bucket(out, bots, "gateway_queue_bucket_waiting", "Shards waiting, per bot and bucket.",
             [](const bucket_status& b) { return b.waiting; });
  per_bot(out, bots, "gateway_queue_grants_total", "counter",
          "Grants journaled and sent by this process, per bot.",
          [](const labelled_bot& bot) { return bot.status.ledger.grants_total; });
  per_bot(out, bots, "gateway_queue_last_grant_timestamp_seconds", "gauge",
          "Unix time of this process's last grant to the bot; 0 before the first.",
          [](const labelled_bot& bot) { return seconds(bot.status.ledger.last_grant_at); });
  out.family("gateway_queue_wait_seconds", "histogram",
             "Time from a request's arrival to its grant, per bot.");
  for (const auto& bot : bots) {
    const auto& ledger = bot.status.ledger;
    out.histogram_samples("gateway_queue_wait_seconds", bot.label, wait_histogram_bounds(),
                          ledger.wait_counts, ledger.wait_count_inf, ledger.wait_sum_seconds);
  }

  // -- limits and the daily budget --
  per_bot(
      out, bots, "gateway_queue_remaining_sessions", "gauge",
      "Session starts left before the daily reset (effective remaining).",
      [](const labelled_bot& bot) { return std::uint64_t{bot.status.ledger.limits.remaining}; });
  per_bot(out, bots, "gateway_queue_total_sessions", "gauge", "Session starts per daily window.",
          [](const labelled_bot& bot) { return std::uint64_t{bot.status.ledger.limits.total}; });
  per_bot(out, bots, "gateway_queue_max_concurrency", "gauge",
          "Buckets (Discord's max_concurrency).",
          [](const labelled_bot& bot) { return std::uint64_t{bot.status.max_concurrency}; });
  per_bot(out, bots, "gateway_queue_limits_known", "gauge",
          "1 once limits are known, 0 while grants are held for them.",
          [](const labelled_bot& bot) {
            return std::uint64_t{bot.status.ledger.limits_known ? 1u : 0u};
          });
  per_bot(out, bots, "gateway_queue_reset_timestamp_seconds", "gauge",
          "Unix time at which the daily budget refills; 0 while limits are unknown.",
          [](const labelled_bot& bot) {
            const auto& ledger = bot.status.ledger;
            return seconds(ledger.limits_known ? ledger.limits.reset_at : 0);
          });
  per_bot(out, bots, "gateway_queue_reset_seconds", "gauge",
          "Seconds until the daily budget refills (0 while limits are unknown).",
          [now](const labelled_bot& bot) {
            const auto& ledger = bot.status.ledger;
            return seconds(ledger.limits_known ? std::max<unix_ms>(0, ledger.limits.reset_at - now)
                                               : 0);
          });
  per_bot(out, bots, "gateway_queue_identify_interval_seconds", "gauge",
          "Spacing of grants within one bucket (the bot's identify interval).",
          [](const labelled_bot& bot) { return seconds(bot.status.identify_interval_ms); });

  // -- past the gate: widening, the loop guard, the reserve --
  per_bucket(out, bots, "gateway_queue_bucket_interval_seconds",
             "Spacing of grants in each bucket now: the interval, widened after Invalid Sessions.",
             [](const bucket_status& b) { return seconds(b.interval_ms); });
  per_bot(out, bots, "gateway_queue_widened_buckets", "gauge",
          "Buckets spaced wider than the interval after reported Invalid Sessions.",
          [](const labelled_bot& bot) { return widened_buckets(bot.status); });
  per_bot(out, bots, "gateway_queue_looping_shards", "gauge",
          "Shards the loop guard refuses now (the shard hourly limit reached in the last hour).",
          [](const labelled_bot& bot) { return std::uint64_t{bot.status.ledger.looping.size()}; });
  per_bot(out, bots, "gateway_queue_reserve_sessions", "gauge",
          "Session starts kept for reconnects: boots (initial=true) are not granted from them.",
          [](const labelled_bot& bot) { return std::uint64_t{bot.status.ledger.reserve}; });

  // -- Discord --
  out.family("gateway_queue_discord_refreshes_total", "counter",
             "Reads of Discord's GET /gateway/bot by result, per bot.");
  for (const auto& bot : bots) {
    const auto& refreshes = bot.status.ledger.refreshes;
    const std::pair<const char*, std::uint64_t> results[] = {
        {"ok", refreshes.ok},
        {"error", refreshes.error},
        {"rate_limited", refreshes.rate_limited},
        {"unauthorized", refreshes.unauthorized},
    };
    for (const auto& [result, count] : results)
      out.sample("gateway_queue_discord_refreshes_total",
                 braces(bot.label, std::string("result=\"") + result + "\""), count);
  }
  per_bot(out, bots, "gateway_queue_discord_up", "gauge",
          "1 when the last read of Discord's limits succeeded (or limits come from the "
          "configuration), 0 while reads fail or after the token was rejected.",
          [](const labelled_bot& bot) {
            const auto& ledger = bot.status.ledger;
            return std::uint64_t{ledger.discord_up && !ledger.discord_stopped ? 1u : 0u};
          });
}

// The series that belong to no bot: the process, its connections and refusals, the journal.
// `journal`: the ledger's status of any bot (the journal is one for all of them).
void render_queue_wide(exposition& out, const edge_counters& edge, const ledger_status& journal) {
  out.single("gateway_queue_active", "gauge",
             "1 while this process holds the journal and paces waiters, 0 on a standby.",
             std::uint64_t{edge.active ? 1U : 0U});
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
  out.family("gateway_queue_outcomes_total", "counter",
             "Outcomes shards reported on their grants (POST /outcome), by result.");
  for (auto result :
       {outcome_result::ready, outcome_result::invalid_session, outcome_result::closed}) {
    out.sample("gateway_queue_outcomes_total",
               "{result=\"" + std::string(to_string(result)) + "\"}",
               edge.outcomes[static_cast<std::size_t>(result)]);
  }

  // -- journal --
  out.family("gateway_queue_journal_commit_seconds", "histogram",
             "Duration of each journal transaction (grants due together share one).");
  out.histogram_samples("gateway_queue_journal_commit_seconds", "", commit_histogram_bounds(),
                        journal.commit_seconds.counts, journal.commit_seconds.above,
                        journal.commit_seconds.sum);
  out.single("gateway_queue_journal_failures_total", "counter",
             "Journal commits that failed (their waiters got 503).", journal.journal_failures);

  // -- the process --
  out.family("gateway_queue_build_info", "gauge",
             "The running version and the commit it was built from; always 1.");
  out.sample("gateway_queue_build_info",
             braces("version=\"" + label_value(build_version()) + "\"",
                    "commit=\"" + label_value(build_commit()) + "\""),
             std::uint64_t{1});
  out.single("gateway_queue_auth_required", "gauge",
             "1 when requests need a bearer token (QUEUE_AUTH_TOKEN is set).",
             std::uint64_t{edge.auth_required ? 1u : 0u});
}

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

std::string render_metrics(std::span<const bot_metrics> bots, const edge_counters* queue_wide,
                           unix_ms now) {
  std::vector<labelled_bot> labelled;
  labelled.reserve(bots.size());
  for (const auto& bot : bots)
    labelled.push_back(
        {"bot=\"" + label_value(bot.name) + "\"", status_or_empty(bot.status), bot.waiting});
  exposition out;
  // The journal is one for every bot: each bot's ledger status carries the same commits.
  if (queue_wide)
    render_queue_wide(out, *queue_wide,
                      status_or_empty(bots.empty() ? nullptr : bots.front().status).ledger);
  // A standby knows no bots: no family without samples.
  if (!labelled.empty()) render_bots(out, labelled, now);
  return out.take();
}

}  // namespace gq
