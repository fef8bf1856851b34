#pragma once
// The bodies of GET /status (JSON) and GET /metrics (Prometheus text format 0.0.4).
// Neither ever contains a secret: they are built from queue_status, which holds none.

#include <cstdint>
#include <string>

#include "actors/messages.hpp"

namespace gq {

// What only the HTTP edge knows, shown beside the queue's own status.
struct edge_counters {
  std::uint64_t connections = 0;
  std::uint64_t waiting = 0;        // queue requests awaiting a verdict
  std::uint64_t hangups_total = 0;  // waiters dropped because their client left
  std::uint64_t rejected_full_total = 0;
};

// The body of a 200 to a waiter: {"bucket":B,"message":"You're free to connect now! :)",
// "shard":S|null,"waited_ms":W}. Built by hand, not through a JSON tree, since up to
// max_concurrency of them are built at once when a round of grants falls due.
std::string render_grant(std::uint32_t bucket, std::int64_t waited_ms, std::uint64_t shard);

std::string render_status_json(const queue_status& status, const edge_counters& edge);

std::string render_metrics(const queue_status& status, const edge_counters& edge);

}  // namespace gq
