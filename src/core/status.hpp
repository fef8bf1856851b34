#pragma once
// The queue's state as /status and /metrics show it, and the values that make it up: plain data,
// filled in by the actors (actors/messages.hpp makes them messages) and rendered by src/http.

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "src/core/records.hpp"
#include "src/core/shard.hpp"

namespace gq {

// An estimated grant time (src/pacing/eta.hpp), or why there is none.
struct grant_estimate {
  bool known = false;
  unix_ms at = 0;      // when known
  std::string reason;  // when not known: "empty", "not waiting", "limits not known yet: ..."
};

// A shard the loop guard refuses: it was granted QUEUE_SHARD_HOURLY_LIMIT times in the last
// hour, and may be granted again at `until` (unix ms).
struct looping_shard {
  std::uint64_t shard = 0;
  unix_ms until = 0;

  friend bool operator==(const looping_shard&, const looping_shard&) = default;
};

// An outcome a bucket's shard reported, as /status shows the newest few.
struct reported_outcome {
  std::uint64_t shard = 0;
  grant_outcome outcome;
  std::int64_t after_ms = 0;  // from the grant to the report
};

struct bucket_status {
  std::uint32_t bucket = 0;
  std::uint64_t waiting = 0;
  unix_ms next_grant_at = 0;
  // When its first waiter may be granted by spacing alone: next_grant_at, or one interval later
  // while a grant is on its way to the edge.
  unix_ms head_at = 0;
  // Asked about a shard: its place in line (1 = next), 0 when it does not wait here.
  std::uint64_t shard_position = 0;
  grant_estimate drain;          // when its last current waiter is granted; filled in by the gate
  std::int64_t interval_ms = 0;  // its spacing now: the interval, widened or not
  std::uint64_t invalid_sessions = 0;           // reported for it since this process became active
  std::vector<reported_outcome> last_outcomes;  // newest first, at most a few
};

// Upper bounds (seconds) of the gateway_queue_wait_seconds histogram buckets.
inline const std::vector<double>& wait_histogram_bounds() {
  static const std::vector<double> bounds{0.005, 0.05, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
  return bounds;
}

// Upper bounds (seconds) of the gateway_queue_journal_commit_seconds histogram buckets: a
// commit takes ~0.1 ms on this machine's virtual disk, 1-10 ms per fsync on real disks, and a
// stall past k_permit_lead (100 ms) makes grants leave late.
inline const std::vector<double>& commit_histogram_bounds() {
  static const std::vector<double> bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01,   0.025,   0.05,   0.1,   0.25,   1};
  return bounds;
}

// Observations of one Prometheus histogram with fixed bounds.
struct histogram_counts {
  std::vector<std::uint64_t> counts;  // per bound (value <= bound), not cumulative
  std::uint64_t above = 0;            // above the last bound
  double sum = 0;

  void observe(double value, const std::vector<double>& bounds) {
    if (counts.size() != bounds.size()) counts.resize(bounds.size(), 0);
    sum += value;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      if (value <= bounds[i]) {
        ++counts[i];
        return;
      }
    }
    ++above;
  }
  std::uint64_t total() const {
    std::uint64_t n = above;
    for (auto c : counts) n += c;
    return n;
  }
};

// How one read of Discord's limits ended, as the limits scheduler reports it to the ledger.
enum class refresh_result : std::uint8_t { ok, error, rate_limited, unauthorized };

// Reads of Discord's limits by this process, per result.
struct discord_refreshes {
  std::uint64_t ok = 0;
  std::uint64_t error = 0;
  std::uint64_t rate_limited = 0;
  std::uint64_t unauthorized = 0;
};

struct ledger_status {
  bool limits_known = false;
  session_limits limits;         // remaining = effective remaining
  unix_ms last_refresh = 0;      // 0: never fetched from Discord by this process
  bool discord_stopped = false;  // Discord rejected the token later on; serving on last limits
  std::uint64_t grants_total = 0;
  std::uint64_t journal_failures = 0;
  std::uint64_t held = 0;                  // permits held for budget or limits
  std::vector<std::uint64_t> wait_counts;  // per wait_histogram_bounds(), not cumulative
  std::uint64_t wait_count_inf = 0;        // above the last bound
  double wait_sum_seconds = 0;
  histogram_counts commit_seconds;  // duration of each journal transaction
  unix_ms last_grant_at = 0;        // released_at of this process's last grant; 0: none yet
  discord_refreshes refreshes;
  // Limits come from the configuration (no token), or the last read of Discord succeeded.
  bool discord_up = false;
  bool reject_when_exhausted = false;    // QUEUE_ON_EXHAUSTED=reject
  std::uint32_t shard_hourly_limit = 0;  // the loop guard's limit; 0: off
  std::vector<looping_shard> looping;    // shards the loop guard refuses now
  std::uint32_t reserve = 0;             // session starts kept for reconnects now
};

struct queue_status {
  ledger_status ledger;
  std::vector<bucket_status> buckets;
  std::uint32_t max_concurrency = 1;
  std::int64_t identify_interval_ms = 0;
  // GET /status?shard=N: where that shard stands (none: not asked).
  shard_id shard;
  std::uint64_t shard_position = 0;  // 1 = next in its bucket, 0 = not waiting
  grant_estimate shard_eta;
};

}  // namespace gq
