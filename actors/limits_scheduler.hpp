#pragma once
// The limits scheduler keeps the queue on Discord's limits: it reads GET /gateway/bot at start,
// every refresh interval, at each daily reset and when remaining reaches 0 (the ledger asks), and
// hands the result to the ledger (budget) and the gate (max_concurrency).
//
// Faults: a 401 before any success ends the process (the token is wrong; retrying would only
// count towards Discord's ban for invalid requests); a 401 later stops all calls and the queue
// serves on the last limits; a 429 waits retry_after; anything else backs off with jitter.

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "actors/gate.hpp"
#include "actors/ledger.hpp"
#include "actors/messages.hpp"
#include "src/pacing/backoff.hpp"
#include "src/pacing/clock_anchor.hpp"
#include "src/pacing/limits_fetch.hpp"

namespace gq {

// The default of QUEUE_REFRESH_INTERVAL_S: how often limits are re-read from Discord.
inline constexpr std::chrono::seconds k_default_refresh_interval{300};

// Read the bot's limits now (unless waiting out a 429 or a backoff).
using limits_scheduler_actor = caf::typed_actor<caf::reacts_to<refresh_atom, bot_key>>;

// What the scheduler itself is: its interface plus its own timer, which no other actor holds a
// handle to send (spawn_limits_scheduler returns a limits_scheduler_actor).
using limits_scheduler_self_actor =
    limits_scheduler_actor::extend<caf::reacts_to<tick_atom, std::uint64_t /*timer*/>>;

struct limits_scheduler_config {
  limits_fetcher fetch;  // blocking; the Discord client in production
  ledger_actor ledger;
  bot_key bot = 0;
  gate_actor gate;
  std::chrono::seconds refresh_interval = k_default_refresh_interval;
  clock_anchor anchor;
  // Called once when Discord rejects the token before any fetch succeeded.
  std::function<void(const std::string& reason)> token_rejected_at_start;
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{60000};
};

struct limits_scheduler_state {
  using pointer = limits_scheduler_self_actor::stateful_pointer<limits_scheduler_state>;

  explicit limits_scheduler_state(pointer self) : self_(self) {}

  void init(limits_scheduler_config config);
  // A read asked for by the ledger (or at start): skipped while waiting out a 429 or a backoff.
  void on_refresh();
  // A scheduled read: only the newest timer counts.
  void on_timer(std::uint64_t timer);

  static constexpr const char* name = "limits_scheduler";

 private:
  void read_limits();
  void schedule(caf::timespan delay);
  void wait_quietly(std::chrono::milliseconds delay);

  pointer self_;
  limits_scheduler_config config_;
  std::optional<backoff> retry_;
  bool fetched_once_ = false;
  bool stopped_ = false;     // Discord rejected the token after start: no more calls
  std::uint64_t timer_ = 0;  // only the newest scheduled read counts
  caf::actor_clock::time_point quiet_until_{};  // no unscheduled reads before this (429, backoff)
};

limits_scheduler_self_actor::behavior_type limits_scheduler(limits_scheduler_state::pointer self,
                                                            limits_scheduler_config config);

// Production: on a thread of its own, since each read blocks on HTTPS.
limits_scheduler_actor spawn_limits_scheduler(caf::actor_system& system,
                                              limits_scheduler_config config, actor_thread thread);

}  // namespace gq
