// The ledger's rules past the gate: the loop guard and the reserve checked on each permit, the
// last hour's grants per shard they read, and the outcomes and re-attributions joined to the
// next commit (docs/DESIGN.md, "Past the gate").
// (The rest of ledger_state: ledger.cpp, ledger_status.cpp, ledger_writer.cpp.)
#include <spdlog/spdlog.h>

#include <caf/all.hpp>

#include "actors/ledger.hpp"

namespace gq {

std::optional<unix_ms> ledger_state::looping_until(const waiter_ticket& ticket, unix_ms now) {
  if (config_.shard_hourly_limit == 0 || !ticket.shard) return std::nullopt;
  const auto shard = *ticket.shard;
  auto until = shard_grants_.looping_until(shard, config_.shard_hourly_limit, now);
  if (!until) return std::nullopt;
  auto& logged = looping_logged_until_[shard];
  if (now >= logged) {
    logged = now + shard_grants::k_window_ms;
    spdlog::warn(
        "loop guard: shard {} was granted {} times in the last hour (QUEUE_SHARD_HOURLY_LIMIT); "
        "refusing it with 429 until {} (unix ms)",
        shard, config_.shard_hourly_limit, *until);
  }
  return until;
}

bool ledger_state::kept_by_reserve(const waiter_ticket& ticket) const {
  return ticket.initial && budget_.known() &&
         budget_.available() <= reserve_for(config_.reserve, budget_.current().total);
}

void ledger_state::forget_old_grants(unix_ms now) {
  // Once a minute is plenty: memory stays about an hour's grants either way.
  if (now - grants_forgotten_at_ < 60'000) return;
  grants_forgotten_at_ = now;
  shard_grants_.forget_before(now);
  std::erase_if(looping_logged_until_, [now](const auto& entry) { return entry.second <= now; });
}

void ledger_state::on_outcome(const outcome_report& report,
                              caf::typed_response_promise<outcome_receipt> promise) {
  // Before `verified` the last hour's grants are not read yet (and nothing may be written).
  if (shutting_down_ || writer_lost_ || !verified_) {
    promise.deliver(outcome_receipt{});
    return;
  }
  const auto row = shard_grants_.newest(report.shard, now() - k_outcome_window_ms);
  if (!row) {
    promise.deliver(outcome_receipt{outcome_answer::no_grant, {}});
    return;
  }
  outcomes_.push_back({{*row, report.outcome}, std::move(promise)});
  schedule_flush();
}

void ledger_state::on_reattribute(caf::timespan due, std::uint32_t bucket,
                                  std::uint32_t max_concurrency, shard_id previous_shard,
                                  const waiter_ticket& waiter) {
  release_reattribution moved;
  moved.released_at = config_.anchor.to_unix(steady_instant(due));
  moved.bucket = bucket;
  moved.max_concurrency = max_concurrency;
  moved.shard = waiter.shard;
  moved.waited_ms = waited_ms(waiter.arrived_at, moved.released_at);
  reattributions_.push_back(moved);
  // The loop guard counts the grant for the shard that got it.
  shard_grants_.reattribute({moved.released_at, bucket, max_concurrency}, previous_shard,
                            waiter.shard);
  schedule_flush();
}

}  // namespace gq
