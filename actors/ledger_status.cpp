// What the ledger tells /status and /metrics: its counters, the wait histogram, the budget and
// the loop guard as they stand.
// (The rest of ledger_state: ledger.cpp, ledger_past_the_gate.cpp, ledger_writer.cpp.)
#include <algorithm>
#include <caf/all.hpp>

#include "actors/ledger.hpp"

namespace gq {

void ledger_state::observe_wait(books& bot, std::int64_t waited_ms) {
  const double seconds = static_cast<double>(waited_ms) / 1000.0;
  bot.wait_sum_seconds += seconds;
  const auto& bounds = wait_histogram_bounds();
  const auto slot = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
  if (static_cast<std::size_t>(slot) < bounds.size())
    ++bot.wait_counts[slot];
  else
    ++bot.wait_count_inf;
}

void ledger_state::count_refresh(bot_key key, refresh_result result) {
  auto* bot = find(key);
  if (!bot) return;
  auto& refreshes = bot->refreshes;
  switch (result) {
    case refresh_result::ok:
      ++refreshes.ok;
      break;
    case refresh_result::error:
      ++refreshes.error;
      break;
    case refresh_result::rate_limited:
      ++refreshes.rate_limited;
      break;
    case refresh_result::unauthorized:
      ++refreshes.unauthorized;
      break;
  }
  bot->discord_up = result == refresh_result::ok;
}

ledger_status ledger_state::status(bot_key key) const {
  ledger_status result;
  result.journal_failures = journal_failures_;
  result.commit_seconds = commit_seconds_;
  const auto* bot = find(key);
  if (!bot) return result;
  const auto& budget = bot->budget;
  const auto& config = bot->config;
  result.limits_known = budget.known();
  result.limits = budget.current();
  if (!budget.known())  // nothing fetched yet: say where limits will come from
    result.limits.source = config.configured ? limits_source::config : limits_source::discord;
  result.last_refresh = bot->last_refresh;
  result.discord_stopped = bot->discord_stopped;
  result.grants_total = bot->grants_total;
  result.held = bot->held.size();
  result.reject_when_exhausted = config.reject_when_exhausted;
  result.wait_counts = bot->wait_counts;
  result.wait_count_inf = bot->wait_count_inf;
  result.wait_sum_seconds = bot->wait_sum_seconds;
  result.last_grant_at = bot->last_grant_at;
  result.refreshes = bot->refreshes;
  result.discord_up = bot->discord_up;
  result.shard_hourly_limit = config.shard_hourly_limit;
  result.looping = bot->grants.looping(config.shard_hourly_limit, now());
  if (budget.known()) result.reserve = reserve_for(config.reserve, budget.current().total);
  return result;
}

}  // namespace gq
