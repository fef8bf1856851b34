#include "actors/limits_scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <caf/all.hpp>

namespace gq {

namespace {

using pointer = limits_scheduler_actor::stateful_pointer<limits_scheduler_state>;

// A reset is re-read a moment after it, so that Discord has refilled by then.
constexpr std::chrono::milliseconds k_after_reset{1000};

void schedule(pointer self, caf::timespan delay) {
  auto& st = self->state;
  ++st.timer;
  self->delayed_send(self, delay, tick_atom::value, st.timer);
}

void wait_quietly(pointer self, std::chrono::milliseconds delay) {
  self->state.quiet_until = self->clock().now() + delay;
  schedule(self, delay);
}

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

void read_limits(pointer self) {
  auto& st = self->state;
  if (st.stopped) return;
  self->send(st.config.ledger, fetching_atom::value);
  const auto fetched = st.config.fetch();
  self->send(st.config.ledger, refreshed_atom::value, result_of(fetched.result));
  switch (fetched.result) {
    case limits_fetch::outcome::ok: {
      st.fetched_once = true;
      st.retry->reset();
      st.quiet_until = {};
      self->send(st.config.ledger, limits_atom::value, fetched.limits);
      self->send(st.config.gate, resize_atom::value, fetched.limits.max_concurrency);
      const auto now = st.config.anchor.to_unix(self->clock().now());
      const auto until_reset =
          std::chrono::milliseconds{std::max<unix_ms>(0, fetched.limits.reset_at - now)} +
          k_after_reset;
      schedule(self, std::min<caf::timespan>(st.config.refresh_interval, until_reset));
      break;
    }
    case limits_fetch::outcome::unauthorized:
      if (!st.fetched_once) {
        spdlog::error("limits: Discord rejected the token (401 Unauthorized); check DISCORD_TOKEN");
        if (st.config.token_rejected_at_start)
          st.config.token_rejected_at_start("Discord rejected the token (401 Unauthorized)");
      } else {
        spdlog::error(
            "limits: Discord now rejects the token (401); no more calls to Discord, serving on "
            "the last limits");
        self->send(st.config.ledger, stopped_atom::value);
      }
      st.stopped = true;
      break;
    case limits_fetch::outcome::rate_limited:
      spdlog::warn("limits: Discord rate-limited the request, retrying in {} ms",
                   fetched.retry_after.count());
      wait_quietly(self, fetched.retry_after);
      break;
    case limits_fetch::outcome::failed: {
      const auto delay = st.retry->next();
      spdlog::warn("limits: fetch failed ({}), retrying in {} ms (keeping the last good limits)",
                   fetched.detail, delay.count());
      wait_quietly(self, delay);
      break;
    }
  }
}

}  // namespace

limits_scheduler_actor::behavior_type limits_scheduler(pointer self,
                                                       limits_scheduler_config config) {
  auto& st = self->state;
  st.retry.emplace(config.backoff_base, config.backoff_cap);
  st.config = std::move(config);
  self->send(self, refresh_atom::value);
  return {
      [self](refresh_atom) {
        if (self->clock().now() >= self->state.quiet_until) read_limits(self);
      },
      [self](tick_atom, std::uint64_t timer) {
        if (timer == self->state.timer) read_limits(self);
      },
  };
}

limits_scheduler_actor spawn_limits_scheduler(caf::actor_system& system,
                                              limits_scheduler_config config, bool detached) {
  if (detached) return system.spawn<caf::detached>(limits_scheduler, std::move(config));
  return system.spawn(limits_scheduler, std::move(config));
}

}  // namespace gq
