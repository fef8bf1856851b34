#include "actors/limits_scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <caf/all.hpp>

namespace gq {

namespace {

refresh_result result_of(limits_fetch::outcome outcome) {
  switch (outcome) {
    case limits_fetch::outcome::ok:
      return refresh_result::ok;
    case limits_fetch::outcome::unauthorized:
      return refresh_result::unauthorized;
    case limits_fetch::outcome::rate_limited:
      return refresh_result::rate_limited;
    case limits_fetch::outcome::failed:
      break;
  }
  return refresh_result::error;
}

}  // namespace

void limits_scheduler_state::init(limits_scheduler_config config) {
  config_ = std::move(config);
  refresh_timing timing;
  timing.interval = config_.refresh_interval;
  timing.backoff_base = config_.backoff_base;
  timing.backoff_cap = config_.backoff_cap;
  plan_.emplace(timing);
}

void limits_scheduler_state::join(bot_key key, limits_bot bot) {
  plan_->remove(key);  // a bot joining again (a new token) starts afresh
  bots_[key] = std::move(bot);
  plan_->add(key, self_->clock().now());
  schedule();
}

void limits_scheduler_state::leave(bot_key key) {
  plan_->remove(key);
  bots_.erase(key);
  schedule();
}

void limits_scheduler_state::on_refresh(bot_key key) {
  plan_->ask(key, self_->clock().now());
  schedule();
}

void limits_scheduler_state::on_timer(std::uint64_t timer) {
  if (timer != timer_) return;
  // One read per message: a join, a leave or an ask that arrived meanwhile is seen before the
  // next read.
  if (auto key = plan_->take_due(self_->clock().now())) {
    if (auto found = bots_.find(*key); found != bots_.end()) read(*key, found->second);
  }
  schedule();
}

void limits_scheduler_state::schedule() {
  const auto next = plan_->next_at();
  if (!next) return;
  ++timer_;
  const auto now = self_->clock().now();
  if (*next <= now) {
    self_->send(self_, tick_atom::value, timer_);
  } else {
    self_->delayed_send(self_, *next - now, tick_atom::value, timer_);
  }
}

void limits_scheduler_state::read(bot_key key, limits_bot& bot) {
  self_->send(config_.ledger, fetching_atom::value, key);
  const auto fetched = bot.fetch();
  const auto now = self_->clock().now();  // the read took real time
  self_->send(config_.ledger, refreshed_atom::value, key, result_of(fetched.result));
  switch (fetched.result) {
    case limits_fetch::outcome::ok:
      plan_->ok(key, now, config_.anchor.from_unix(fetched.limits.reset_at));
      self_->send(config_.ledger, limits_atom::value, key, fetched.limits);
      self_->send(bot.gate, resize_atom::value, fetched.limits.max_concurrency);
      break;
    case limits_fetch::outcome::unauthorized:
      if (!plan_->read_ok_once(key)) {
        spdlog::error("limits: Discord rejected bot {}'s token (401 Unauthorized); check it",
                      bot.name);
        if (bot.token_rejected_at_start)
          bot.token_rejected_at_start("Discord rejected the token (401 Unauthorized)");
      } else {
        spdlog::error(
            "limits: Discord now rejects bot {}'s token (401); no more calls to Discord for it, "
            "serving on its last limits",
            bot.name);
        self_->send(config_.ledger, stopped_atom::value, key);
      }
      plan_->unauthorized(key);
      break;
    case limits_fetch::outcome::rate_limited:
      spdlog::warn("limits: Discord rate-limited bot {}'s request, retrying in {} ms", bot.name,
                   fetched.retry_after.count());
      plan_->rate_limited(key, now, fetched.retry_after);
      break;
    case limits_fetch::outcome::failed: {
      const auto delay = plan_->failed(key, now);
      spdlog::warn(
          "limits: bot {}'s fetch failed ({}), retrying in {} ms (keeping the last good limits)",
          bot.name, fetched.detail, delay.count());
      break;
    }
  }
}

limits_scheduler_self_actor::behavior_type limits_scheduler(limits_scheduler_state::pointer self,
                                                            limits_scheduler_config config) {
  self->state.init(std::move(config));
  return {
      [self](refresh_atom, bot_key key) { self->state.on_refresh(key); },
      [self](join_atom, bot_key key, const limits_bot& bot) { self->state.join(key, bot); },
      [self](leave_atom, bot_key key) { self->state.leave(key); },
      [self](tick_atom, std::uint64_t timer) { self->state.on_timer(timer); },
  };
}

limits_scheduler_actor spawn_limits_scheduler(caf::actor_system& system,
                                              limits_scheduler_config config, actor_thread thread) {
  if (thread == actor_thread::own)
    return system.spawn<caf::detached>(limits_scheduler, std::move(config));
  return system.spawn(limits_scheduler, std::move(config));
}

}  // namespace gq
