#pragma once
// The ledger: the one authority over the daily budgets, and the only writer of the journal.
// Every bot has its own books here (budget, held permits, loop guard, counters); they share the
// journal and its commits, so a grant of one bot never waits for another bot's budget or limits.
//
// A bucket asks for a permit when its head waiter is due. The ledger takes one unit of the
// budget, commits the grant to the journal and only then answers `granted`, so no 200 is ever
// sent for a grant that a crash could forget. Permits that arrive together share one transaction
// (one fsync): the ledger batches everything in its mailbox before it commits.
// Without budget (or before limits are known) permits are held, in arrival order, until the
// window resets or limits arrive; under reject-when-exhausted they are refused instead.
// With a journal whose integrity check is deferred (ledger_config::await_verified) it touches the
// journal only after `verified`: permits are held and fetched limits kept until then.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "actors/messages.hpp"
#include "src/core/bot.hpp"
#include "src/pacing/clock_anchor.hpp"
#include "src/pacing/daily_budget.hpp"
#include "src/pacing/shard_grants.hpp"
#include "storage/journal.hpp"

namespace gq {

// What a bot's entry in the ledger is made from (a bot joins at start or on a reload).
struct ledger_bot_config {
  std::string name{k_default_bot};  // as the journal names its rows
  bool reject_when_exhausted = false;
  // Limits when the bot has no Discord token: total = its daily limit, max_concurrency from the
  // config. nullopt: limits come from Discord (journaled ones serve until the first fetch).
  std::optional<session_limits> configured;
  // The loop guard (QUEUE_SHARD_HOURLY_LIMIT): a shard granted this many times in the last hour
  // is refused (verdict looping) until the oldest of them is an hour old. 0: off.
  std::uint32_t shard_hourly_limit = 12;
  // QUEUE_RESERVE: session starts a boot (initial=true) is not granted from. nullopt: 5 % of
  // the daily total, rounded up.
  std::optional<std::uint32_t> reserve;
};

using ledger_actor = caf::typed_actor<
    // A bucket's head waiter is due: grant (journaled), refuse, or hold until budget exists.
    // `earliest` (steady clock, since its epoch) is the first instant the bucket's spacing
    // allows (it asks a little ahead of time); the ledger decides the due instant at commit
    // (grant_due, src/pacing/grant_due.hpp), journals it, and the verdict carries it (`at`, `due`).
    // A bot the ledger does not know (removed) is answered shutting_down.
    caf::replies_to<permit_atom, bot_key, waiter_ticket, std::uint32_t /*bucket*/,
                    std::uint32_t /*max_concurrency*/, caf::timespan /*earliest*/>::with<verdict>,
    // A journaled grant went to another waiter (its own left): the row takes that waiter's
    // shard and wait in the next commit. No budget is used: the row is counted already.
    caf::reacts_to<reattribute_atom, bot_key, caf::timespan /*due, as journaled*/,
                   std::uint32_t /*bucket*/, std::uint32_t /*max_concurrency*/,
                   shard_id /*previous shard*/, waiter_ticket /*new waiter*/>,
    // A shard reports what its newest grant became: journaled on that grant's row.
    caf::replies_to<outcome_atom, bot_key, outcome_report>::with<outcome_receipt>,
    // The waiter of a held permit left: answer `withdrawn` unless it was already granted.
    caf::reacts_to<withdraw_atom, bot_key, std::uint64_t /*waiter id*/>,
    // A fetch from Discord begins: grants from now on count against what it returns.
    caf::reacts_to<fetching_atom, bot_key>, caf::reacts_to<limits_atom, bot_key, session_limits>,
    // Discord rejected the bot's token after start: keep serving on the last limits, say so.
    caf::reacts_to<stopped_atom, bot_key>,
    // A read of Discord's limits ended with this result (counted for /metrics).
    caf::reacts_to<refreshed_atom, bot_key, refresh_result>,
    // Whom to send `refresh` when a bot's remaining reaches 0.
    caf::reacts_to<watch_atom, refresh_target_actor>,
    caf::replies_to<status_atom, bot_key>::with<ledger_status>,
    // A bot starts: the ledger continues its daily window from the journal and answers what its
    // gate needs to resume pacing (the bot's journaled grants and Invalid Sessions); an error
    // when the journal cannot be read.
    caf::replies_to<join_atom, bot_key, ledger_bot_config>::with<bot_recovery>,
    // A bot's settings changed (a reload): its policy, loop guard, reserve and configured limits.
    caf::reacts_to<join_atom, bot_key, ledger_bot_config, bool /*update*/>,
    // A bot is removed (a reload): its held permits are answered shutting_down.
    caf::reacts_to<leave_atom, bot_key>,
    // The journal passed its integrity check (only with ledger_config::await_verified).
    caf::reacts_to<verified_atom>, caf::reacts_to<shutdown_atom>>;

// What the ledger itself is: its interface plus the messages it sends itself, which no other
// actor holds a handle to send (spawn_ledger returns a ledger_actor).
using ledger_self_actor =
    ledger_actor::extend<caf::reacts_to<flush_atom>,          // commit the batch
                         caf::reacts_to<tick_atom, bot_key>,  // a bot's daily window ends
                         caf::reacts_to<confirm_atom>>;       // prove the journal is still ours

struct ledger_config {
  clock_anchor anchor;
  // true: the journal's integrity check runs after start (storage::integrity_check::deferred);
  // the ledger restores the window and grants only after a `verified` message.
  bool await_verified = false;
  // Called once, on the ledger's thread, when the journal says its writer lost it
  // (storage::journal::writer_lost): another queue may be granting now. The ledger grants
  // nothing more (503); the caller stands this process by. Also arms a check of the journal
  // every `writer_check_interval`, so an idle queue notices too.
  std::function<void()> on_writer_lost;
  // Short, since a process that resumes from a freeze after losing its session still answers
  // /ready 200 until its next check: a trivial query 5 times a second costs the database nothing.
  caf::timespan writer_check_interval = std::chrono::milliseconds{200};
};

struct ledger_state {
  struct pending_permit {
    bot_key bot = 0;
    std::string bot_name;  // as journaled, even if the bot is removed before the commit
    waiter_ticket ticket;
    std::uint32_t bucket = 0;
    std::uint32_t max_concurrency = 1;
    caf::timespan due{0};  // steady clock, since its epoch: the earliest, then as decided
    caf::typed_response_promise<verdict> promise;
  };

  explicit ledger_state(ledger_self_actor::stateful_pointer<ledger_state> self) : self_(self) {}

  // Takes the journal; bots join afterwards (join).
  void init(std::shared_ptr<storage::journal> journal, ledger_config config);

  // Fails (and the bot does not join) when the journal cannot be read.
  caf::result<bot_recovery> join(bot_key key, ledger_bot_config config);
  void update(bot_key key, ledger_bot_config config);
  void leave(bot_key key);
  void on_permit(pending_permit permit);
  void on_withdraw(bot_key key, std::uint64_t waiter_id);
  void on_reattribute(bot_key key, caf::timespan due, std::uint32_t bucket,
                      std::uint32_t max_concurrency, shard_id previous_shard,
                      const waiter_ticket& waiter);
  void on_outcome(bot_key key, const outcome_report& report,
                  caf::typed_response_promise<outcome_receipt> promise);
  void on_limits(bot_key key, const session_limits& limits);
  void on_verified();
  void commit_batch();
  void on_window_end(bot_key key);
  // The writer check's timer (ledger_config::on_writer_lost).
  void confirm_writer();
  void mark_fetch(bot_key key);
  void mark_discord_stopped(bot_key key);
  void count_refresh(bot_key key, refresh_result result);
  void watch(refresh_target_actor watcher) { watcher_ = std::move(watcher); }
  void shut_down();
  ledger_status status(bot_key key) const;

  static constexpr const char* name = "ledger";

 private:
  // One bot's share of the ledger: its budget, held permits, loop guard and counters. Bots share
  // the journal, its batch (one commit, one fsync for every bot's grants) and its failures.
  struct books {
    bot_key key = 0;
    ledger_bot_config config;
    daily_budget budget;
    shard_grants grants;  // the last hour's grants per shard
    std::unordered_map<std::uint64_t, unix_ms> looping_logged_until;  // one log line an hour
    unix_ms grants_forgotten_at = 0;
    std::deque<pending_permit> held;             // no budget or no limits yet, in arrival order
    std::optional<session_limits> early_limits;  // fetched before verified_, applied then
    std::uint64_t grants_total = 0;              // grants committed by this process
    std::uint64_t grants_admitted = 0;           // grants admitted (committed or in the batch)
    std::uint64_t fetch_mark = 0;                // grants_admitted when the running fetch began
    std::uint64_t in_batch = 0;                  // admitted, in batch_, not yet committed
    unix_ms last_refresh = 0;
    bool discord_stopped = false;
    bool restored = false;         // its window read back from the journal (after verified_)
    unix_ms window_timer_for = 0;  // reset_at the pending window-end tick is for
    std::vector<std::uint64_t> wait_counts;
    std::uint64_t wait_count_inf = 0;
    double wait_sum_seconds = 0;
    unix_ms last_grant_at = 0;
    discord_refreshes refreshes;
    bool discord_up = false;  // see ledger_status::discord_up
  };

  books* find(bot_key key);
  const books* find(bot_key key) const;
  unix_ms now() const;
  void restore(books& bot);
  void apply(books& bot, const session_limits& limits, std::uint64_t grants_since_fetch);
  void schedule_window_end(books& bot);
  void admit(books& bot, pending_permit permit);
  void admit_held(books& bot);
  void notify_watcher(const books& bot);
  void observe_wait(books& bot, std::int64_t waited_ms);
  void schedule_flush();
  // The loop guard: when `ticket`'s shard may be granted again, nullopt when now.
  std::optional<unix_ms> looping_until(books& bot, const waiter_ticket& ticket, unix_ms now);
  // A boot that the reserve keeps from being granted now.
  bool kept_by_reserve(const books& bot, const waiter_ticket& ticket) const;
  void forget_old_grants(books& bot, unix_ms now);
  // After a journal failure: tells on_writer_lost once when the journal is lost for good.
  void check_writer_lost();
  // Runs one journal transaction and records its duration in commit_seconds_.
  template <class Transaction>
  void timed(Transaction&& transaction);

  ledger_self_actor::stateful_pointer<ledger_state> self_;
  std::shared_ptr<storage::journal> journal_;
  ledger_config config_;
  std::unordered_map<bot_key, books> bots_;
  std::vector<pending_permit> batch_;                  // admitted, awaiting one commit
  std::vector<release_reattribution> reattributions_;  // for the next commit
  struct pending_outcome {
    release_outcome outcome;
    caf::typed_response_promise<outcome_receipt> promise;
  };
  std::vector<pending_outcome> outcomes_;  // for the next commit
  bool flush_scheduled_ = false;
  bool verified_ = false;  // see ledger_config::await_verified
  bool shutting_down_ = false;
  bool writer_lost_ = false;  // for good: every permit is answered unavailable
  refresh_target_actor watcher_;
  std::uint64_t journal_failures_ = 0;
  histogram_counts commit_seconds_;
};

// Spawns the ledger; production gives it a thread of its own, since every commit blocks on fsync.
ledger_actor spawn_ledger(caf::actor_system& system, std::shared_ptr<storage::journal> journal,
                          ledger_config config, actor_thread thread);

}  // namespace gq

// Travels only between actors of this process, never serialized.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gq::ledger_bot_config)
