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

std::string render_status_json(const queue_status& status, const edge_counters& edge);

std::string render_metrics(const queue_status& status, const edge_counters& edge);

}  // namespace gq
