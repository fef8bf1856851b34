#include "actors/limits_scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <caf/all.hpp>

namespace gq {

namespace {

// A reset is re-read a moment after it, so that Discord has refilled by then.
constexpr std::chrono::milliseconds k_after_reset{1000};

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
  retry_.emplace(config.backoff_base, config.backoff_cap);
  config_ = std::move(config);
  self_->send(self_, refresh_atom::value, config_.bot);
}

void limits_scheduler_state::on_refresh() {
  if (self_->clock().now() >= quiet_until_) read_limits();
}

void limits_scheduler_state::on_timer(std::uint64_t timer) {
  if (timer == timer_) read_limits();
}

void limits_scheduler_state::schedule(caf::timespan delay) {
  ++timer_;
  self_->delayed_send(self_, delay, tick_atom::value, timer_);
}

void limits_scheduler_state::wait_quietly(std::chrono::milliseconds delay) {
  quiet_until_ = self_->clock().now() + delay;
  schedule(delay);
}

void limits_scheduler_state::read_limits() {
  if (stopped_) return;
  self_->send(config_.ledger, fetching_atom::value, config_.bot);
  const auto fetched = config_.fetch();
  self_->send(config_.ledger, refreshed_atom::value, config_.bot, result_of(fetched.result));
  switch (fetched.result) {
    case limits_fetch::outcome::ok: {
      fetched_once_ = true;
      retry_->reset();
      quiet_until_ = {};
      self_->send(config_.ledger, limits_atom::value, config_.bot, fetched.limits);
      self_->send(config_.gate, resize_atom::value, fetched.limits.max_concurrency);
      const auto now = config_.anchor.to_unix(self_->clock().now());
      const auto until_reset =
          std::chrono::milliseconds{std::max<unix_ms>(0, fetched.limits.reset_at - now)} +
          k_after_reset;
      schedule(std::min<caf::timespan>(config_.refresh_interval, until_reset));
      break;
    }
    case limits_fetch::outcome::unauthorized:
      if (!fetched_once_) {
        spdlog::error("limits: Discord rejected the token (401 Unauthorized); check DISCORD_TOKEN");
        if (config_.token_rejected_at_start)
          config_.token_rejected_at_start("Discord rejected the token (401 Unauthorized)");
      } else {
        spdlog::error(
            "limits: Discord now rejects the token (401); no more calls to Discord, serving on "
            "the last limits");
        self_->send(config_.ledger, stopped_atom::value, config_.bot);
      }
      stopped_ = true;
      break;
    case limits_fetch::outcome::rate_limited:
      spdlog::warn("limits: Discord rate-limited the request, retrying in {} ms",
                   fetched.retry_after.count());
      wait_quietly(fetched.retry_after);
      break;
    case limits_fetch::outcome::failed: {
      const auto delay = retry_->next();
      spdlog::warn("limits: fetch failed ({}), retrying in {} ms (keeping the last good limits)",
                   fetched.detail, delay.count());
      wait_quietly(delay);
      break;
    }
  }
}

limits_scheduler_self_actor::behavior_type limits_scheduler(limits_scheduler_state::pointer self,
                                                            limits_scheduler_config config) {
  self->state.init(std::move(config));
  return {
      [self](refresh_atom, bot_key) { self->state.on_refresh(); },
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
