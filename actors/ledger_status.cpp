// What the ledger tells /status and /metrics: its counters, the wait histogram, the budget and
// the loop guard as they stand.
// (The rest of ledger_state: ledger.cpp, ledger_past_the_gate.cpp, ledger_writer.cpp.)
#include <algorithm>
#include <caf/all.hpp>

#include "actors/ledger.hpp"

namespace gq {

void ledger_state::observe_wait(std::int64_t waited_ms) {
  const double seconds = static_cast<double>(waited_ms) / 1000.0;
  wait_sum_seconds_ += seconds;
  const auto& bounds = wait_histogram_bounds();
  const auto slot = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
  if (static_cast<std::size_t>(slot) < bounds.size())
    ++wait_counts_[slot];
  else
    ++wait_count_inf_;
}

void ledger_state::count_refresh(refresh_result result) {
  switch (result) {
    case refresh_result::ok:
      ++refreshes_.ok;
      break;
    case refresh_result::error:
      ++refreshes_.error;
      break;
    case refresh_result::rate_limited:
      ++refreshes_.rate_limited;
      break;
    case refresh_result::unauthorized:
      ++refreshes_.unauthorized;
      break;
  }
  discord_up_ = result == refresh_result::ok;
}

ledger_status ledger_state::status() const {
  ledger_status result;
  result.limits_known = budget_.known();
  result.limits = budget_.current();
  if (!budget_.known())  // nothing fetched yet: say where limits will come from
    result.limits.source = config_.configured ? limits_source::config : limits_source::discord;
  result.last_refresh = last_refresh_;
  result.discord_stopped = discord_stopped_;
  result.grants_total = grants_total_;
  result.journal_failures = journal_failures_;
  result.held = held_.size();
  result.reject_when_exhausted = config_.reject_when_exhausted;
  result.wait_counts = wait_counts_;
  result.wait_count_inf = wait_count_inf_;
  result.wait_sum_seconds = wait_sum_seconds_;
  result.commit_seconds = commit_seconds_;
  result.last_grant_at = last_grant_at_;
  result.refreshes = refreshes_;
  result.discord_up = discord_up_;
  result.shard_hourly_limit = config_.shard_hourly_limit;
  result.looping = shard_grants_.looping(config_.shard_hourly_limit, now());
  if (budget_.known()) result.reserve = reserve_for(config_.reserve, budget_.current().total);
  return result;
}

}  // namespace gq
