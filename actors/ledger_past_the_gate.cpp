// The ledger's rules past the gate: the loop guard and the reserve checked on each permit, the
// last hour's grants per shard they read, and the outcomes and re-attributions joined to the
// next commit (docs/DESIGN.md, "Past the gate").
// (The rest of ledger_state: ledger.cpp, ledger_status.cpp, ledger_writer.cpp.)
#include <spdlog/spdlog.h>

#include <caf/all.hpp>

#include "actors/ledger.hpp"

namespace gq {

std::optional<unix_ms> ledger_state::looping_until(books& bot, const waiter_ticket& ticket,
                                                   unix_ms now) {
  const auto limit = bot.config.shard_hourly_limit;
  if (limit == 0 || !ticket.shard) return std::nullopt;
  const auto shard = *ticket.shard;
  auto until = bot.grants.looping_until(shard, limit, now);
  if (!until) return std::nullopt;
  auto& logged = bot.looping_logged_until[shard];
  if (now >= logged) {
    logged = now + shard_grants::k_window_ms;
    spdlog::warn(
        "loop guard: bot {}'s shard {} was granted {} times in the last hour "
        "(QUEUE_SHARD_HOURLY_LIMIT); refusing it with 429 until {} (unix ms)",
        bot.config.name, shard, limit, *until);
  }
  return until;
}

bool ledger_state::kept_by_reserve(const books& bot, const waiter_ticket& ticket) const {
  const auto& budget = bot.budget;
  return ticket.initial && budget.known() &&
         budget.available() <= reserve_for(bot.config.reserve, budget.current().total);
}

void ledger_state::forget_old_grants(books& bot, unix_ms now) {
  // Once a minute is plenty: memory stays about an hour's grants either way.
  if (now - bot.grants_forgotten_at < 60'000) return;
  bot.grants_forgotten_at = now;
  bot.grants.forget_before(now);
  std::erase_if(bot.looping_logged_until, [now](const auto& entry) { return entry.second <= now; });
}

void ledger_state::on_outcome(bot_key key, const outcome_report& report,
                              caf::typed_response_promise<outcome_receipt> promise) {
  auto* bot = find(key);
  // Before `verified` the last hour's grants are not read yet (and nothing may be written).
  if (shutting_down_ || writer_lost_ || !verified_ || !bot) {
    promise.deliver(outcome_receipt{});
    return;
  }
  const auto row = bot->grants.newest(report.shard, now() - k_outcome_window_ms);
  if (!row) {
    promise.deliver(outcome_receipt{outcome_answer::no_grant, {}});
    return;
  }
  outcomes_.push_back({{*row, report.outcome, bot->config.name}, std::move(promise)});
  schedule_flush();
}

void ledger_state::on_reattribute(bot_key key, caf::timespan due, std::uint32_t bucket,
                                  std::uint32_t max_concurrency, shard_id previous_shard,
                                  const waiter_ticket& waiter) {
  auto* bot = find(key);
  if (!bot) return;  // removed: its rows keep the shards they name
  release_reattribution moved;
  moved.released_at = config_.anchor.to_unix(steady_instant(due));
  moved.bucket = bucket;
  moved.max_concurrency = max_concurrency;
  moved.shard = waiter.shard;
  moved.waited_ms = waited_ms(waiter.arrived_at, moved.released_at);
  moved.bot = bot->config.name;
  // The loop guard counts the grant for the shard that got it.
  bot->grants.reattribute({moved.released_at, bucket, max_concurrency}, previous_shard,
                          waiter.shard);
  reattributions_.push_back(std::move(moved));
  schedule_flush();
}

}  // namespace gq
