#include "src/pacing/boot_plan.hpp"

#include <algorithm>
#include <cassert>

namespace gq {

boot_plan plan_boot(std::uint64_t shards, std::uint32_t max_concurrency, unix_ms interval_ms,
                    const eta_budget& budget, unix_ms start) {
  assert(max_concurrency > 0 && "plan_boot needs at least one bucket");
  assert(interval_ms > 0 && "plan_boot needs a positive interval");
  std::vector<eta_bucket> line(max_concurrency);
  for (std::uint32_t b = 0; b < max_concurrency; ++b) {
    line[b].head_at = start;
    line[b].waiting = shards / max_concurrency + (b < shards % max_concurrency ? 1 : 0);
  }
  const auto estimate = estimate_grants(line, interval_ms, budget);
  boot_plan plan;
  plan.start = start;
  plan.after_reset = estimate.granted_after_reset;
  plan.remaining_after = estimate.remaining_after;
  plan.reset_at = estimate.reset_at;
  plan.refused = estimate.granted < shards;
  plan.waits_for_reset = !budget.reject_when_exhausted && shards > budget.remaining;
  plan.last_grant = {start, {}};
  for (std::uint32_t b = 0; b < max_concurrency; ++b) {
    plan.buckets.push_back({b, line[b].waiting, estimate.drain_at[b]});
    const auto& drain = estimate.drain_at[b];
    if (line[b].waiting == 0) continue;
    if (!drain.at) {
      plan.last_grant = drain;  // unknown or refused: so is the end of the boot
    } else if (plan.last_grant.at) {
      plan.last_grant.at = std::max(*plan.last_grant.at, *drain.at);
    }
  }
  return plan;
}

}  // namespace gq
