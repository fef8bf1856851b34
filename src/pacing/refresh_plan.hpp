#pragma once
// When to read each bot's limits from Discord (GET /gateway/bot), for one thread that reads for
// every bot, one blocking read at a time. Plain C++: the caller supplies the time and performs
// the reads; tests/src/pacing/refresh_plan_test.cpp drives it with a fake clock.
//
// The rules, per bot:
// - added: read at once (the queue holds its grants until its limits are known);
// - read ok: the next read is at the bot's periodic slot, or just after its daily reset if that
//   comes first;
// - the ledger asks (remaining reached 0): read at once, unless the bot is waiting out a 429 or a
//   backoff, is being read, or is stopped;
// - 429: wait retry_after; any other failure: back off (base doubled per failure up to the cap,
//   with full jitter), counted per bot, so one bot's outage never moves another bot's reads;
// - 401: never read again (until removed and added back, as a reload does for a new token).
//
// Spreading, so that many bots never call Discord in a herd:
// - each bot has a phase: its rank among the bots (by key) times interval / N. Periodic reads
//   fall on the bot's slots, epoch + phase + k * interval, the epoch being the first add, so in
//   steady state N bots' periodic reads are interval / N apart. A read off its slot (the first
//   one, one after a reset, a 429, a backoff or an ask) moves the next to the first slot at least
//   half an interval later: two periodic reads of a bot are one interval apart, and never less
//   than half or more than one and a half intervals apart when it re-aligns. Adding or removing
//   bots changes N and the ranks: each bot moves to its new phase at its next read, so the
//   spread is even again within two intervals (a stopped bot keeps its phase: a gap);
// - a read after a reset is at reset + 1 s plus the bot's phase scaled to the reset spread
//   (at most the interval): bots whose windows reset at the same instant are read one after
//   another over that window, not in the same second. A read for a reset is not followed by
//   another within half an interval (a Discord that keeps reporting a reset at hand);
// - two reads of any bots are at least min_gap apart: after a network blip that leaves every bot
//   overdue, or at start, the most overdue is read first (ties by key), one per min_gap.
//
// Cost: O(bots) memory, about 100 bytes per bot (an entry in a vector sorted by key plus a node
// of the set ordered by due time). next_at is O(1); take_due, ask and the outcomes O(log n);
// add and remove move the vector's tail (O(n) bytes, at start and at reloads only).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "src/core/bot.hpp"

namespace gq {

struct refresh_timing {
  using duration = std::chrono::steady_clock::duration;
  // How often each bot's limits are read (QUEUE_REFRESH_INTERVAL_S). Must be positive.
  duration interval = std::chrono::seconds{300};
  // Reads after a common reset are spread over this window (capped at the interval).
  duration reset_spread = std::chrono::seconds{60};
  // The least time between two reads of any bots.
  duration min_gap = std::chrono::milliseconds{20};
  // Backoff after a failed read (not a 429, not a 401): see backoff.hpp.
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{60000};
};

class refresh_plan {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  // A reset is re-read a moment after it, so that Discord has refilled by then.
  static constexpr duration k_after_reset = std::chrono::seconds{1};

  // Preconditions (checked in debug builds): interval > 0, min_gap >= 0, reset_spread >= 0,
  // 0 < backoff_base <= backoff_cap. `seed` drives the backoff jitter.
  explicit refresh_plan(refresh_timing timing, std::uint64_t seed = std::random_device{}());

  // A new bot, read as soon as the gap allows. False (and nothing changes) if it is known.
  bool add(bot_key bot, time_point now);
  // The bot and its planned read are dropped; an outcome reported for it later is ignored.
  void remove(bot_key bot);
  // The ledger asks for a read: brought forward to now, unless the bot is waiting out a 429 or a
  // backoff (Discord said when), is being read (that read will do) or is stopped.
  void ask(bot_key bot, time_point now);

  // When take_due will next return a bot; nullopt when no read is planned.
  std::optional<time_point> next_at() const;
  // The bot to read now, if one is due and the last read began at least min_gap ago: the most
  // overdue, ties by key. It is then being read until one of the outcomes below is reported.
  std::optional<bot_key> take_due(time_point now);

  // The outcomes of a read (ignored for a bot not known or stopped). `reset_at` is Discord's
  // reset on the steady clock.
  void ok(bot_key bot, time_point now, time_point reset_at);
  void rate_limited(bot_key bot, time_point now, std::chrono::milliseconds retry_after);
  // Returns the wait chosen (for the log); zero for a bot not known or stopped.
  std::chrono::milliseconds failed(bot_key bot, time_point now);
  void unauthorized(bot_key bot);

  bool stopped(bot_key bot) const;
  // At least one read of the bot succeeded (a 401 before that is fatal for the default bot).
  bool read_ok_once(bot_key bot) const;
  // The bot's planned read; nullopt while it is being read, stopped or not known.
  std::optional<time_point> planned_at(bot_key bot) const;
  std::size_t size() const { return bots_.size(); }

 private:
  enum class state : std::uint8_t {
    planned,  // a read is due at `due`
    waiting,  // a read is due at `due`, the end of a 429's wait or of a backoff: no asking
    reading,  // taken, its outcome not yet reported
    stopped,  // 401: never read again
  };

  struct entry {
    bot_key key = 0;
    state now = state::planned;
    bool read_ok_once = false;
    bool for_reset = false;      // the planned read is the one for a reset (ok() planned it so)
    std::uint32_t failures = 0;  // consecutive failed reads (not 429s): the backoff's exponent
    time_point due{};            // when planned or waiting
  };

  std::size_t position(bot_key bot) const;  // where the bot is, or would go, in bots_
  entry* find(bot_key bot);
  const entry* find(bot_key bot) const;
  void plan(entry& bot, state next, time_point due);
  void unplan(entry& bot);
  // Of the bot at `rank` among the bots: its phase's share of `span`.
  duration share(duration span, std::size_t rank) const;
  time_point periodic_slot(std::size_t rank, time_point now) const;

  refresh_timing timing_;
  std::mt19937_64 jitter_;
  std::vector<entry> bots_;                       // sorted by key: the rank is the phase
  std::set<std::pair<time_point, bot_key>> due_;  // planned and waiting reads, earliest first
  std::optional<time_point> epoch_;               // the first add: slots count from here
  std::optional<time_point> last_taken_;          // the min_gap runs from here
};

}  // namespace gq
