#include "src/http/render.hpp"

#include <nlohmann/json.hpp>

namespace gq {

namespace {

std::uint64_t total_waiting(const queue_status& status) {
  std::uint64_t sum = 0;
  for (const auto& b : status.buckets) sum += b.waiting;
  return sum;
}

nlohmann::json time_or_null(const grant_estimate& e) {
  return e.known ? nlohmann::json(e.at) : nlohmann::json(nullptr);
}

constexpr const char* k_standby_estimate = "this queue is a standby: ask the active one";

// Where the shard asked about stands: bucket, place in line, estimated grant. A standby knows no
// queue and no max_concurrency: it says so rather than leave the shard out.
nlohmann::json shard_standing(const queue_status& status, bool active) {
  const bool waiting = status.shard_position > 0;
  nlohmann::json bucket = nullptr;
  if (active)
    bucket = status.max_concurrency > 0 ? bucket_of(status.shard, status.max_concurrency) : 0;
  nlohmann::json standing{
      {"shard", *status.shard},
      {"bucket", std::move(bucket)},
      {"state", waiting ? "waiting" : "not waiting"},
      {"position", waiting ? nlohmann::json(status.shard_position) : nlohmann::json(nullptr)},
      {"estimated_grant_at", time_or_null(status.shard_eta)},
  };
  if (waiting && !status.shard_eta.known) standing["estimate_unknown"] = status.shard_eta.reason;
  if (!active) standing["estimate_unknown"] = k_standby_estimate;
  return standing;
}

// As gateway_queue_discord_up says it: a standby calls no Discord, and a queue whose reads fail
// is not "ok" (render_metrics.cpp).
const char* discord_state(const ledger_status& ledger, bool active) {
  if (!active) return "standby";
  if (ledger.discord_stopped) return "token_rejected";
  return ledger.discord_up ? "ok" : "failing";
}

}  // namespace

std::string render_grant(std::uint32_t bucket, std::int64_t waited_ms, shard_id shard) {
  std::string body;
  body.reserve(112);
  body.append(R"j({"bucket":)j").append(std::to_string(bucket));
  body.append(R"j(,"message":"You're free to connect now! :)","shard":)j");
  body.append(shard ? std::to_string(*shard) : std::string{"null"});
  body.append(R"j(,"waited_ms":)j").append(std::to_string(waited_ms)).append("}");
  return body;
}

std::string render_status_json(const queue_status& status, const edge_counters& edge,
                               std::string_view bot, std::span<const std::string> listed) {
  const auto& ledger = status.ledger;
  nlohmann::json buckets = nlohmann::json::array();
  for (const auto& b : status.buckets) {
    buckets.push_back(
        {{"bucket", b.bucket}, {"waiting", b.waiting}, {"next_grant_at", b.next_grant_at}});
    buckets.back()["drain_at"] = time_or_null(b.drain);
    if (b.waiting > 0 && !b.drain.known) buckets.back()["drain_unknown"] = b.drain.reason;
    buckets.back()["interval_ms"] = b.interval_ms;
    buckets.back()["invalid_sessions"] = b.invalid_sessions;
    nlohmann::json outcomes = nlohmann::json::array();
    for (const auto& o : b.last_outcomes) {
      outcomes.push_back({{"shard", o.shard},
                          {"result", to_string(o.outcome.result)},
                          {"code", o.outcome.code ? nlohmann::json(*o.outcome.code) : nullptr},
                          {"outcome_ms", o.after_ms}});
    }
    buckets.back()["last_outcomes"] = std::move(outcomes);
  }
  nlohmann::json looping = nlohmann::json::array();
  for (const auto& l : ledger.looping) looping.push_back({{"shard", l.shard}, {"until", l.until}});
  nlohmann::json body{
      {"active", edge.active},
      {"max_concurrency", status.max_concurrency},
      {"identify_interval_ms", status.identify_interval_ms},
      {"limits_known", ledger.limits_known},
      {"total", ledger.limits.total},
      {"remaining", ledger.limits.remaining},
      {"reset_at", ledger.limits_known ? nlohmann::json(ledger.limits.reset_at) : nullptr},
      {"limits_source", to_string(ledger.limits.source)},
      {"last_refresh", ledger.last_refresh > 0 ? nlohmann::json(ledger.last_refresh) : nullptr},
      {"discord", discord_state(ledger, edge.active)},
      {"waiting", total_waiting(status)},
      {"held_for_budget", ledger.held},
      {"grants_total", ledger.grants_total},
      {"journal_failures", ledger.journal_failures},
      {"connections", edge.connections},
      {"auth", edge.auth_required},
      {"buckets", std::move(buckets)},
      {"shard_hourly_limit", ledger.shard_hourly_limit},
      {"looping", std::move(looping)},
      {"reserve", ledger.reserve},
  };
  if (status.shard) body["shard"] = shard_standing(status, edge.active);
  body["bot"] = bot;
  if (!listed.empty()) body["bots"] = listed;
  return body.dump();
}

std::string render_bots_json(const edge_counters& edge, std::span<const std::string> listed) {
  nlohmann::json body{{"active", edge.active},
                      {"waiting", edge.waiting},
                      {"connections", edge.connections},
                      {"auth", edge.auth_required},
                      {"bots", listed}};
  return body.dump();
}

}  // namespace gq
