#include "src/pacing/refresh_plan.hpp"

#include <algorithm>
#include <cassert>

#include "src/pacing/backoff.hpp"

namespace gq {

refresh_plan::refresh_plan(refresh_timing timing, std::uint64_t seed)
    : timing_(timing), jitter_(seed) {
  assert(timing_.interval > duration::zero() && "refresh_plan needs a positive interval");
  assert(timing_.min_gap >= duration::zero() && "refresh_plan: negative min_gap");
  assert(timing_.reset_spread >= duration::zero() && "refresh_plan: negative reset_spread");
  assert(timing_.backoff_base.count() > 0 && timing_.backoff_base <= timing_.backoff_cap &&
         "refresh_plan needs 0 < backoff_base <= backoff_cap");
  timing_.reset_spread = std::min(timing_.reset_spread, timing_.interval);
}

std::size_t refresh_plan::position(bot_key bot) const {
  const auto it = std::lower_bound(bots_.begin(), bots_.end(), bot,
                                   [](const entry& e, bot_key key) { return e.key < key; });
  return static_cast<std::size_t>(it - bots_.begin());
}

refresh_plan::entry* refresh_plan::find(bot_key bot) {
  const auto at = position(bot);
  return at < bots_.size() && bots_[at].key == bot ? &bots_[at] : nullptr;
}

const refresh_plan::entry* refresh_plan::find(bot_key bot) const {
  const auto at = position(bot);
  return at < bots_.size() && bots_[at].key == bot ? &bots_[at] : nullptr;
}

bool refresh_plan::add(bot_key bot, time_point now) {
  if (find(bot) != nullptr) return false;
  if (!epoch_) epoch_ = now;
  auto& added = *bots_.insert(bots_.begin() + static_cast<std::ptrdiff_t>(position(bot)), {bot});
  plan(added, state::planned, now);
  return true;
}

void refresh_plan::remove(bot_key bot) {
  auto* e = find(bot);
  if (e == nullptr) return;
  unplan(*e);
  bots_.erase(bots_.begin() + (e - bots_.data()));
}

void refresh_plan::ask(bot_key bot, time_point now) {
  auto* e = find(bot);
  if (e == nullptr || e->now != state::planned || e->due <= now) return;
  plan(*e, state::planned, now);
}

std::optional<refresh_plan::time_point> refresh_plan::next_at() const {
  if (due_.empty()) return std::nullopt;
  const auto due = due_.begin()->first;
  if (!last_taken_) return due;
  return std::max(due, *last_taken_ + timing_.min_gap);
}

std::optional<bot_key> refresh_plan::take_due(time_point now) {
  const auto at = next_at();
  if (!at || *at > now) return std::nullopt;
  const auto bot = due_.begin()->second;
  due_.erase(due_.begin());
  find(bot)->now = state::reading;
  last_taken_ = now;
  return bot;
}

void refresh_plan::ok(bot_key bot, time_point now, time_point reset_at) {
  auto* e = find(bot);
  if (e == nullptr || e->now == state::stopped) return;
  e->read_ok_once = true;
  e->failures = 0;
  const auto rank = static_cast<std::size_t>(e - bots_.data());
  const auto after_reset =
      std::max(reset_at, now) + k_after_reset + share(timing_.reset_spread, rank);
  const auto slot = periodic_slot(rank, now);
  // A Discord that still (or always) reports a reset at hand right after the read for one would
  // have the bot read every second: that is left to the periodic slot (and to the ledger's ask).
  const bool for_reset =
      after_reset < slot && !(e->for_reset && after_reset < now + timing_.interval / 2);
  plan(*e, state::planned, for_reset ? after_reset : slot);
  e->for_reset = for_reset;
}

void refresh_plan::rate_limited(bot_key bot, time_point now,
                                std::chrono::milliseconds retry_after) {
  auto* e = find(bot);
  if (e == nullptr || e->now == state::stopped) return;
  plan(*e, state::waiting, now + std::max(retry_after, std::chrono::milliseconds{0}));
}

std::chrono::milliseconds refresh_plan::failed(bot_key bot, time_point now) {
  auto* e = find(bot);
  if (e == nullptr || e->now == state::stopped) return std::chrono::milliseconds{0};
  const auto wait =
      backoff::wait_after(e->failures, timing_.backoff_base, timing_.backoff_cap, jitter_);
  if (e->failures < UINT32_MAX) ++e->failures;
  plan(*e, state::waiting, now + wait);
  return wait;
}

void refresh_plan::unauthorized(bot_key bot) {
  auto* e = find(bot);
  if (e == nullptr) return;
  unplan(*e);
  e->now = state::stopped;
}

bool refresh_plan::stopped(bot_key bot) const {
  const auto* e = find(bot);
  return e != nullptr && e->now == state::stopped;
}

bool refresh_plan::read_ok_once(bot_key bot) const {
  const auto* e = find(bot);
  return e != nullptr && e->read_ok_once;
}

std::optional<refresh_plan::time_point> refresh_plan::planned_at(bot_key bot) const {
  const auto* e = find(bot);
  if (e == nullptr || (e->now != state::planned && e->now != state::waiting)) return std::nullopt;
  return e->due;
}

void refresh_plan::plan(entry& bot, state next, time_point due) {
  unplan(bot);
  bot.for_reset = false;  // ok() sets it again when this is the read for a reset
  bot.now = next;
  bot.due = due;
  due_.emplace(due, bot.key);
}

void refresh_plan::unplan(entry& bot) {
  if (bot.now == state::planned || bot.now == state::waiting) due_.erase({bot.due, bot.key});
}

refresh_plan::duration refresh_plan::share(duration span, std::size_t rank) const {
  // span * rank / n without overflow (a day in nanoseconds times a large n would).
  const auto n = static_cast<duration::rep>(bots_.size());
  const auto r = static_cast<duration::rep>(rank);
  return duration{span.count() / n * r + span.count() % n * r / n};
}

refresh_plan::time_point refresh_plan::periodic_slot(std::size_t rank, time_point now) const {
  // The first slot (epoch + phase + k * interval) at least half an interval from now: right
  // after an off-slot read the next one is not wasted on the same limits.
  const auto phase = *epoch_ + share(timing_.interval, rank);
  const auto since = now + timing_.interval / 2 - phase;
  auto k = since / timing_.interval;  // truncates: the ceiling when `since` <= 0
  if (since > duration::zero() && since % timing_.interval != duration::zero()) ++k;
  return phase + k * timing_.interval;
}

}  // namespace gq
