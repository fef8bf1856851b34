#pragma once
// The bodies of GET /status (JSON) and GET /metrics (Prometheus text format 0.0.4; the metrics
// and their meaning: docs/METRICS.md).
// Neither ever contains a secret: they are built from queue_status, which holds none.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "src/core/status.hpp"

namespace gq {

// Why the edge refused a request (the `reason` label of gateway_queue_rejections_total).
enum class rejection : std::uint8_t {
  full,         // 503: QUEUE_MAX_WAITING waiters held
  exhausted,    // 429: daily budget used up under QUEUE_ON_EXHAUSTED=reject
  auth,         // 401: missing or wrong bearer token
  bad_request,  // 400/413/414/431: malformed or oversized request, shard or filter
  journal,      // 503: the journal cannot be written, nothing granted
  shutdown,     // 503: the queue is stopping
  standby,      // 503: another queue holds the journal (or this one lost it): not active
  late,         // 503: a grant could not leave within k_recovery_margin of its due instant
  looping,      // 429: the shard was granted QUEUE_SHARD_HOURLY_LIMIT times in the last hour
  reserve,      // 429: a boot (initial=true) refused from the reserve under reject
};
constexpr std::size_t k_rejection_kinds = 10;
const char* to_string(rejection reason);

// What only the HTTP edge knows, shown beside the queue's own status.
struct edge_counters {
  std::uint64_t connections = 0;
  std::uint64_t waiting = 0;        // queue requests awaiting a verdict
  std::uint64_t hangups_total = 0;  // waiters dropped because their client left
  std::array<std::uint64_t, k_rejection_kinds> rejections{};  // by rejection
  std::array<std::uint64_t, 3> outcomes{};  // journaled reports, by outcome_result
  bool auth_required = false;               // QUEUE_AUTH_TOKEN is set
  // This process holds the journal and paces waiters; a standby shows an empty queue status.
  bool active = true;

  void count(rejection reason) { ++rejections[static_cast<std::size_t>(reason)]; }
  std::uint64_t rejected(rejection reason) const {
    return rejections[static_cast<std::size_t>(reason)];
  }
  void count(outcome_result result) { ++outcomes[static_cast<std::size_t>(result)]; }
};

// The body of a 200 to a waiter: {"bucket":B,"message":"You're free to connect now! :)",
// "shard":S|null,"waited_ms":W}. Built by hand, not through a JSON tree, since up to
// max_concurrency of them are built at once when a round of grants falls due.
std::string render_grant(std::uint32_t bucket, std::int64_t waited_ms, shard_id shard);

// GET /status of one bot: its queue as `status` holds it, named in "bot". An overview (a caller
// who named no bot) also lists in "bots" the names of every bot it may see; `listed` empty: no
// list. `edge` holds what the caller may see of the edge (a bot's caller: its own waiters only).
std::string render_status_json(const queue_status& status, const edge_counters& edge,
                               std::string_view bot, std::span<const std::string> listed = {});
// GET /status of an overview in a queue without a `default` bot: the edge and the list alone.
std::string render_bots_json(const edge_counters& edge, std::span<const std::string> listed);

// One bot's part of GET /metrics: every series of its queue carries bot="NAME".
struct bot_metrics {
  std::string_view name;
  const queue_status* status = nullptr;
  std::uint64_t waiting = 0;  // its queue requests awaiting a verdict at the edge
};

// Every sample round-trips: integers exactly, other values in the shortest form that reads back
// as the same double. `now` (unix ms) dates gateway_queue_reset_seconds. (render_metrics.cpp)
// `queue_wide`: the series that belong to no bot (connections, refusals, the journal's commits),
// for a caller who may see them; null for a bot's caller.
std::string render_metrics(std::span<const bot_metrics> bots, const edge_counters* queue_wide,
                           unix_ms now);

// One sample value in the Prometheus text format: integral values below 2^53 as integers, others
// as the shortest decimal that parses back to the same double (without an exponent between
// 1e-6 and 1e15); NaN, +Inf, -Inf as Prometheus spells them.
std::string format_sample(double value);

}  // namespace gq
