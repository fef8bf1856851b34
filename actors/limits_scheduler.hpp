#pragma once
// The limits scheduler keeps every bot with a Discord token on Discord's limits: it reads GET
// /gateway/bot for a bot when it starts, every refresh interval, after each daily reset and when
// the bot's remaining reaches 0 (the ledger asks), and hands the result to the ledger (budget)
// and the bot's gate (max_concurrency). One scheduler reads for all bots, one read at a time, on
// a thread of its own; when each bot is read is src/pacing/refresh_plan.hpp's decision, which
// spreads many bots' reads over the interval and backs off per bot.
//
// Faults, per bot: a 401 before any success is the token_rejected_at_start of the bot (for the
// one bot of the variables: the process ends, since the token is wrong and retrying would only
// count towards Discord's ban for invalid requests); a 401 later stops the bot's reads and it
// serves on its last limits; a 429 waits retry_after; anything else backs off with jitter.

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "actors/gate.hpp"
#include "actors/ledger.hpp"
#include "actors/messages.hpp"
#include "src/pacing/clock_anchor.hpp"
#include "src/pacing/limits_fetch.hpp"
#include "src/pacing/refresh_plan.hpp"

namespace gq {

// The default of QUEUE_REFRESH_INTERVAL_S: how often limits are re-read from Discord.
inline constexpr std::chrono::seconds k_default_refresh_interval{300};

// A bot whose limits come from Discord.
struct limits_bot {
  std::string name;      // for log lines
  limits_fetcher fetch;  // blocking; the Discord client with the bot's token in production
  gate_actor gate;
  // Called once when Discord rejects the token before any read with it succeeded.
  std::function<void(const std::string& reason)> token_rejected_at_start;
};

using limits_scheduler_actor = caf::typed_actor<
    // Read the bot's limits now (unless it waits out a 429 or a backoff): the ledger asks.
    caf::reacts_to<refresh_atom, bot_key>,
    // A bot starts (at start, on a reload, with a new token) and is read at once.
    caf::reacts_to<join_atom, bot_key, limits_bot>,
    // A bot ends: no more reads for it.
    caf::reacts_to<leave_atom, bot_key>>;

// What the scheduler itself is: its interface plus its own timer, which no other actor holds a
// handle to send (spawn_limits_scheduler returns a limits_scheduler_actor).
using limits_scheduler_self_actor =
    limits_scheduler_actor::extend<caf::reacts_to<tick_atom, std::uint64_t /*timer*/>>;

struct limits_scheduler_config {
  ledger_actor ledger;
  std::chrono::seconds refresh_interval = k_default_refresh_interval;
  clock_anchor anchor;
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{60000};
};

struct limits_scheduler_state {
  using pointer = limits_scheduler_self_actor::stateful_pointer<limits_scheduler_state>;

  explicit limits_scheduler_state(pointer self) : self_(self) {}

  void init(limits_scheduler_config config);
  void join(bot_key key, limits_bot bot);
  void leave(bot_key key);
  // A read asked for by the ledger: skipped while the bot waits out a 429 or a backoff.
  void on_refresh(bot_key key);
  // A planned read is due: only the newest timer counts.
  void on_timer(std::uint64_t timer);

  static constexpr const char* name = "limits_scheduler";

 private:
  void read(bot_key key, limits_bot& bot);
  // Sets the timer for the plan's next read.
  void schedule();

  pointer self_;
  limits_scheduler_config config_;
  std::optional<refresh_plan> plan_;
  std::unordered_map<bot_key, limits_bot> bots_;
  std::uint64_t timer_ = 0;  // only the newest timer counts
};

limits_scheduler_self_actor::behavior_type limits_scheduler(limits_scheduler_state::pointer self,
                                                            limits_scheduler_config config);

// Production: on a thread of its own, since each read blocks on HTTPS.
limits_scheduler_actor spawn_limits_scheduler(caf::actor_system& system,
                                              limits_scheduler_config config, actor_thread thread);

}  // namespace gq

// Travels only between actors of this process, never serialized.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gq::limits_bot)
