#pragma once
// The plan of a boot: N shards (0..N-1) all asking at once, bucket = shard % max_concurrency.
// The arithmetic is estimate_grants() (eta.hpp), the same code that answers GET /status.

#include <cstdint>
#include <vector>

#include "src/pacing/eta.hpp"

namespace gq {

struct boot_plan_bucket {
  std::uint32_t bucket = 0;
  std::uint64_t shards = 0;
  eta_estimate last_grant;  // when its last shard is granted
};

struct boot_plan {
  unix_ms start = 0;  // when the shards ask (every bucket idle then)
  std::vector<boot_plan_bucket> buckets;
  eta_estimate last_grant;            // when the last shard of all is granted
  std::uint64_t after_reset = 0;      // shards granted at or after the reset
  std::uint64_t remaining_after = 0;  // budget left once booted, in the window ending ...
  unix_ms reset_at = 0;               // ... here
  bool waits_for_reset = false;       // shards exceed the remaining budget (hold)
  bool refused = false;               // some shards are refused (reject)
};

// Preconditions (checked in debug builds): max_concurrency > 0, interval_ms > 0. Every bucket is
// idle at `start`, so its first grant is immediate.
boot_plan plan_boot(std::uint64_t shards, std::uint32_t max_concurrency, unix_ms interval_ms,
                    const eta_budget& budget, unix_ms start);

}  // namespace gq
