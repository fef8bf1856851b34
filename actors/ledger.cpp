// The ledger, the one authority over grants: permits, the daily budget, one commit per batch,
// the limits and the daily window. (The rest of ledger_state: ledger_past_the_gate.cpp,
// ledger_status.cpp, ledger_writer.cpp.)
#include "actors/ledger.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <caf/all.hpp>
#include <cmath>

#include "src/pacing/grant_due.hpp"

namespace gq {

void ledger_state::init(std::shared_ptr<storage::journal> journal, ledger_config config) {
  journal_ = std::move(journal);
  config_ = std::move(config);
  commit_seconds_.counts.assign(commit_histogram_bounds().size(), 0);
  if (config_.on_writer_lost)
    self_->delayed_send(self_, config_.writer_check_interval, confirm_atom::value);
  if (!config_.await_verified) on_verified();
}

ledger_state::books* ledger_state::find(bot_key key) {
  auto found = bots_.find(key);
  return found == bots_.end() ? nullptr : &found->second;
}

const ledger_state::books* ledger_state::find(bot_key key) const {
  auto found = bots_.find(key);
  return found == bots_.end() ? nullptr : &found->second;
}

caf::result<bot_recovery> ledger_state::join(bot_key key, ledger_bot_config config) {
  // A bot that a reload restarts joins again under a new key right after it left: a grant of its
  // old buckets may still wait in the batch. Committed first, it is in the recovery read below,
  // so the new buckets wait an interval after it as after any journaled grant.
  if (!batch_.empty()) commit_batch();
  bot_recovery recovered;
  const auto t = now();
  try {
    recovered.journaled = journal_->recover(config.name);
    recovered.invalid_sessions =
        journal_->invalid_sessions_since(t - daily_budget::k_day_ms, config.name);
  } catch (const storage::journal_error& e) {
    // Without its last grants the bot's buckets could grant too soon: it does not start.
    spdlog::error("journal: cannot read bot {}'s last grants: {}", config.name, e.what());
    return caf::make_error(caf::sec::runtime_error, "the journal cannot be read");
  }
  auto& bot = bots_[key];
  bot = books{};
  bot.key = key;
  bot.discord_up = config.configured.has_value();  // no token: Discord is not needed
  bot.config = std::move(config);
  bot.wait_counts.assign(wait_histogram_bounds().size(), 0);
  if (verified_) restore(bot);
  return recovered;
}

void ledger_state::update(bot_key key, ledger_bot_config config) {
  auto* bot = find(key);
  if (!bot) return;
  const bool limits_changed = config.configured != bot->config.configured;
  bot->config = std::move(config);
  bot->discord_up = bot->config.configured.has_value() || bot->discord_up;
  // New configured limits take effect as a start with them would: the window goes on, and what
  // is left of it follows the new total (not the smaller of old and new, as for a re-read of
  // Discord's limits in the same window).
  if (limits_changed && bot->config.configured && verified_) {
    bot->budget = daily_budget{};
    restore(*bot);
  }
  admit_held(*bot);
}

void ledger_state::leave(bot_key key) {
  auto* bot = find(key);
  if (!bot) return;
  for (auto& permit : bot->held) permit.promise.deliver(verdict::of(verdict_kind::shutting_down));
  // Permits in the batch are committed with it (they are counted and journaled like any grant);
  // the bot's books go now, so the commit finds none to update.
  bots_.erase(key);
}

// Everything that touches the journal starts here: before it, permits wait in each bot's held
// line (no limits are known) and fetched limits in its early_limits, so a damaged journal never
// grants.
void ledger_state::on_verified() {
  if (verified_) return;
  verified_ = true;
  for (auto& [key, bot] : bots_) {
    restore(bot);
    if (bot.early_limits) {
      const auto limits = *bot.early_limits;
      bot.early_limits.reset();
      on_limits(key, limits);
    }
    admit_held(bot);
  }
}

unix_ms ledger_state::now() const { return config_.anchor.to_unix(self_->clock().now()); }

// Wall time on the steady clock, not the actor clock: the commit blocks this thread for real.
// A transaction that throws is timed too: a failing disk is often a slow one.
template <class Transaction>
void ledger_state::timed(Transaction&& transaction) {
  const auto started = std::chrono::steady_clock::now();
  auto observe = [&] {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    commit_seconds_.observe(took.count(), commit_histogram_bounds());
    return took;
  };
  try {
    transaction();
  } catch (...) {
    observe();
    throw;
  }
  const auto took = observe();
  // Permits are asked k_permit_lead ahead of their due instant: a slower commit (an fsync
  // stall of the disk) makes grants leave late. Worth knowing when reading lateness.
  if (took > k_permit_lead)
    spdlog::warn("journal: a commit took {} ms; grants due meanwhile leave late",
                 std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
}

// Continues the bot's daily window the journal remembers, so a restart cannot overspend it.
void ledger_state::restore(books& bot) {
  const auto t = now();
  const auto& bot_name = bot.config.name;
  std::optional<session_limits> remembered;
  try {
    remembered = journal_->recover(bot_name).limits;
  } catch (const storage::journal_error& e) {
    spdlog::error("journal: cannot read bot {}'s last limits: {}", bot_name, e.what());
  }
  if (bot.config.configured) {
    auto limits = *bot.config.configured;
    limits.fetched_at = t;
    limits.remaining = limits.total;
    const bool window_running = remembered && remembered->reset_at > t &&
                                remembered->reset_at <= t + daily_budget::k_day_ms;
    limits.reset_at = window_running ? remembered->reset_at : t + daily_budget::k_day_ms;
    apply(bot, limits, 0);
    // A restart or a takeover within the window, configured as before, has nothing new to say:
    // every such start would otherwise add a row that differs only in its fetched_at.
    const bool already_journaled = remembered && remembered->source == limits_source::config &&
                                   remembered->total == limits.total &&
                                   remembered->max_concurrency == limits.max_concurrency &&
                                   remembered->reset_at == limits.reset_at;
    try {
      if (!already_journaled) timed([&] { journal_->record_limits(limits, bot_name); });
    } catch (const storage::journal_error& e) {
      spdlog::error("journal: cannot record bot {}'s configured limits: {}", bot_name, e.what());
    }
  } else if (remembered && remembered->source == limits_source::discord) {
    const auto limits = daily_budget::rolled(*remembered, t);
    std::uint64_t since_fetch = 0;
    try {
      since_fetch = journal_->count_releases_since(limits.fetched_at, bot_name);
    } catch (const storage::journal_error& e) {
      spdlog::error("journal: cannot count bot {}'s grants: {}", bot_name, e.what());
      since_fetch = limits.remaining;  // fail closed: nothing to spend until a fetch succeeds
    }
    apply(bot, limits, since_fetch);
    spdlog::info(
        "limits: bot {} serves journaled Discord limits until the first fetch ({} remaining)",
        bot_name, bot.budget.available());
  }
  if (!bot.restored) {
    try {
      for (const auto& grant :
           journal_->shard_grants_since(t - shard_grants::k_window_ms, bot_name))
        bot.grants.record(grant.shard, grant.row);
    } catch (const storage::journal_error& e) {
      spdlog::error("journal: cannot read bot {}'s last hour of grants (loop guard, outcomes): {}",
                    bot_name, e.what());
    }
  }
  bot.restored = true;
  schedule_window_end(bot);
}

void ledger_state::apply(books& bot, const session_limits& limits,
                         std::uint64_t grants_since_fetch) {
  std::uint64_t in_window = limits.total;  // fail closed if the journal cannot be read
  try {
    in_window =
        journal_->count_releases_since(limits.reset_at - daily_budget::k_day_ms, bot.config.name) +
        bot.in_batch;
  } catch (const storage::journal_error& e) {
    spdlog::error("journal: cannot count bot {}'s grants in this window, holding them: {}",
                  bot.config.name, e.what());
  }
  bot.budget.apply(limits, grants_since_fetch, in_window);
}

void ledger_state::on_permit(pending_permit permit) {
  auto* bot = find(permit.bot);
  if (shutting_down_ || !bot) {
    permit.promise.deliver(verdict::of(verdict_kind::shutting_down));
    return;
  }
  if (writer_lost_) {
    permit.promise.deliver(verdict::of(verdict_kind::unavailable));
    return;
  }
  on_window_end(permit.bot);  // a reset that passed since the last tick refills before this
  if (auto until = looping_until(*bot, permit.ticket, now())) {
    permit.promise.deliver(verdict::of(verdict_kind::looping, *until));
    return;
  }
  permit.bot_name = bot->config.name;
  auto& budget = bot->budget;
  const bool reject = bot->config.reject_when_exhausted;
  if (kept_by_reserve(*bot, permit.ticket)) {
    permit.promise.deliver(
        verdict::of(reject ? verdict_kind::reserved : verdict_kind::deferred, budget.reset_at()));
    return;
  }
  if (budget.known() && bot->held.empty() && budget.available() > 0) {
    admit(*bot, std::move(permit));
  } else if (budget.known() && reject) {
    permit.promise.deliver(verdict::of(verdict_kind::exhausted, budget.reset_at()));
  } else {
    bot->held.push_back(std::move(permit));
  }
}

void ledger_state::admit(books& bot, pending_permit permit) {
  bot.budget.consume();
  ++bot.grants_admitted;
  ++bot.in_batch;
  batch_.push_back(std::move(permit));
  schedule_flush();
  if (bot.budget.available() == 0) {
    spdlog::info("budget: bot {} has no session starts left until {} (unix ms)", bot.config.name,
                 bot.budget.reset_at());
    notify_watcher(bot);
  }
}

void ledger_state::schedule_flush() {
  if (flush_scheduled_) return;
  // Everything already in the mailbox is handled before this message: one commit for all.
  flush_scheduled_ = true;
  self_->send(self_, flush_atom::value);
}

void ledger_state::commit_batch() {
  flush_scheduled_ = false;
  if (batch_.empty() && reattributions_.empty() && outcomes_.empty()) return;
  // Each permit's due instant is decided here, as this commit begins, and journaled as decided.
  const auto commit_begins = self_->clock().now();
  std::vector<release_record> records;
  records.reserve(batch_.size());
  for (auto& permit : batch_) {
    permit.due = grant_due(steady_instant(permit.due), commit_begins).time_since_epoch();
    release_record record;
    record.released_at = config_.anchor.to_unix(steady_instant(permit.due));
    record.shard = permit.ticket.shard;
    record.bucket = permit.bucket;
    record.max_concurrency = permit.max_concurrency;
    record.waited_ms = waited_ms(permit.ticket.arrived_at, record.released_at);
    // A bot removed since its permit was admitted: its grant is journaled as any other (its
    // waiter is answered by the edge), under the bot's name.
    record.bot = permit.bot_name;
    records.push_back(std::move(record));
  }
  auto batch = std::move(batch_);
  batch_.clear();
  const auto moved = std::move(reattributions_);
  reattributions_.clear();
  auto reported = std::move(outcomes_);
  outcomes_.clear();
  std::vector<release_outcome> outcomes;
  outcomes.reserve(reported.size());
  for (const auto& pending : reported) outcomes.push_back(pending.outcome);
  bool committed = true;
  try {
    timed([&] { journal_->record_releases(records, moved, outcomes); });
  } catch (const storage::journal_error& e) {
    committed = false;
    for (auto& pending : reported) pending.promise.deliver(outcome_receipt{});  // unavailable
    ++journal_failures_;
    spdlog::error("journal: commit failed, {} grant(s) refused with 503: {}", batch.size(),
                  e.what());
    // The grants re-attributed went out already and their rows stand (counted, timed right);
    // only the shard and wait they name are lost.
    if (!moved.empty())
      spdlog::warn("journal: {} grant row(s) keep the shard of a waiter that left", moved.size());
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto* bot = find(batch[i].bot);
    if (bot) --bot->in_batch;
    if (!committed) {
      if (bot) {
        bot->budget.refund();
        --bot->grants_admitted;
      }
      batch[i].promise.deliver(verdict::of(verdict_kind::unavailable));
      continue;
    }
    const auto& record = records[i];
    if (bot) {
      ++bot->grants_total;
      bot->last_grant_at = std::max(bot->last_grant_at, record.released_at);
      if (record.shard)
        bot->grants.record(*record.shard,
                           {record.released_at, record.bucket, record.max_concurrency});
      observe_wait(*bot, record.waited_ms);
    }
    verdict granted = verdict::of(verdict_kind::granted, record.released_at);
    granted.waited_ms = record.waited_ms;
    granted.bucket = batch[i].bucket;
    granted.due = batch[i].due;
    batch[i].promise.deliver(granted);
  }
  if (!committed) {
    check_writer_lost();
    return;
  }
  for (auto& pending : reported)
    pending.promise.deliver(outcome_receipt{outcome_answer::journaled, pending.outcome.row});
  const auto t = now();
  for (auto& [key, bot] : bots_) forget_old_grants(bot, t);
}

void ledger_state::on_withdraw(bot_key key, std::uint64_t waiter_id) {
  auto* bot = find(key);
  if (!bot) return;
  auto held = std::find_if(bot->held.begin(), bot->held.end(),
                           [&](const pending_permit& p) { return p.ticket.id == waiter_id; });
  if (held == bot->held.end()) return;  // already admitted: the grant stands
  held->promise.deliver(verdict::of(verdict_kind::withdrawn));
  bot->held.erase(held);
}

void ledger_state::on_limits(bot_key key, const session_limits& limits) {
  auto* bot = find(key);
  if (!bot) return;
  if (!verified_) {
    bot->early_limits = limits;
    return;
  }
  bot->last_refresh = now();
  apply(*bot, limits, bot->grants_admitted - bot->fetch_mark);
  spdlog::info(
      "limits: bot {}: total {}, remaining {} (effective {}), max_concurrency {}, reset in {} s",
      bot->config.name, limits.total, limits.remaining, bot->budget.available(),
      limits.max_concurrency, (limits.reset_at - bot->last_refresh) / 1000);
  try {
    timed([&] { journal_->record_limits(limits, bot->config.name); });
  } catch (const storage::journal_error& e) {
    spdlog::error("journal: cannot record bot {}'s fetched limits: {}", bot->config.name, e.what());
    check_writer_lost();
  }
  admit_held(*bot);
  schedule_window_end(*bot);
}

void ledger_state::admit_held(books& bot) {
  while (!shutting_down_ && !bot.held.empty() && bot.budget.available() > 0) {
    auto permit = std::move(bot.held.front());
    bot.held.pop_front();
    admit(bot, std::move(permit));
  }
  if (bot.budget.known() && bot.config.reject_when_exhausted) {
    for (auto& permit : bot.held)
      permit.promise.deliver(verdict::of(verdict_kind::exhausted, bot.budget.reset_at()));
    bot.held.clear();
  }
}

void ledger_state::on_window_end(bot_key key) {
  auto* bot = find(key);
  if (!bot) return;
  if (bot->budget.roll(now())) {
    // The limits scheduler re-reads Discord a moment after the reset on its own timer.
    spdlog::info("budget: bot {}'s daily window reset, {} session starts available",
                 bot->config.name, bot->budget.available());
    admit_held(*bot);
  }
  schedule_window_end(*bot);
}

void ledger_state::schedule_window_end(books& bot) {
  if (!bot.budget.known() || bot.budget.reset_at() == bot.window_timer_for) return;
  bot.window_timer_for = bot.budget.reset_at();
  const auto due = config_.anchor.from_unix(bot.budget.reset_at());
  const auto delay = std::max(due - self_->clock().now(), caf::actor_clock::duration_type{0});
  self_->delayed_send(self_, delay, tick_atom::value, bot.key);
}

void ledger_state::notify_watcher(const books& bot) {
  if (watcher_) caf::anon_send(watcher_, refresh_atom::value, bot.key);
}

void ledger_state::mark_fetch(bot_key key) {
  if (auto* bot = find(key)) bot->fetch_mark = bot->grants_admitted;
}

void ledger_state::mark_discord_stopped(bot_key key) {
  if (auto* bot = find(key)) bot->discord_stopped = true;
}

void ledger_state::shut_down() {
  shutting_down_ = true;
  // Nothing is granted once the queue stops: admitted but uncommitted permits are refused too.
  for (auto& permit : batch_) {
    if (auto* bot = find(permit.bot)) {
      bot->budget.refund();
      --bot->grants_admitted;
      --bot->in_batch;
    }
    permit.promise.deliver(verdict::of(verdict_kind::shutting_down));
  }
  batch_.clear();
  for (auto& [key, bot] : bots_) {
    for (auto& permit : bot.held) permit.promise.deliver(verdict::of(verdict_kind::shutting_down));
    bot.held.clear();
  }
  for (auto& pending : outcomes_) pending.promise.deliver(outcome_receipt{});
  outcomes_.clear();
}

namespace {

ledger_self_actor::behavior_type ledger_behavior(
    ledger_self_actor::stateful_pointer<ledger_state> self,
    std::shared_ptr<storage::journal> journal, ledger_config config) {
  self->state.init(std::move(journal), std::move(config));
  return {
      [self](permit_atom, bot_key bot, waiter_ticket ticket, std::uint32_t bucket,
             std::uint32_t max_concurrency, caf::timespan due) -> caf::result<verdict> {
        auto promise = self->make_response_promise<verdict>();
        self->state.on_permit({bot, {}, ticket, bucket, max_concurrency, due, promise});
        return promise;
      },
      [self](reattribute_atom, bot_key bot, caf::timespan due, std::uint32_t bucket,
             std::uint32_t max_concurrency, shard_id previous_shard, const waiter_ticket& waiter) {
        self->state.on_reattribute(bot, due, bucket, max_concurrency, previous_shard, waiter);
      },
      [self](outcome_atom, bot_key bot,
             const outcome_report& report) -> caf::result<outcome_receipt> {
        auto promise = self->make_response_promise<outcome_receipt>();
        self->state.on_outcome(bot, report, promise);
        return promise;
      },
      [self](withdraw_atom, bot_key bot, std::uint64_t waiter_id) {
        self->state.on_withdraw(bot, waiter_id);
      },
      [self](fetching_atom, bot_key bot) { self->state.mark_fetch(bot); },
      [self](limits_atom, bot_key bot, const session_limits& limits) {
        self->state.on_limits(bot, limits);
      },
      [self](stopped_atom, bot_key bot) { self->state.mark_discord_stopped(bot); },
      [self](refreshed_atom, bot_key bot, refresh_result result) {
        self->state.count_refresh(bot, result);
      },
      [self](watch_atom, refresh_target_actor watcher) { self->state.watch(std::move(watcher)); },
      [self](status_atom, bot_key bot) { return self->state.status(bot); },
      [self](join_atom, bot_key bot, const ledger_bot_config& settings) {
        return self->state.join(bot, settings);
      },
      [self](join_atom, bot_key bot, const ledger_bot_config& settings, bool) {
        self->state.update(bot, settings);
      },
      [self](leave_atom, bot_key bot) { self->state.leave(bot); },
      [self](flush_atom) { self->state.commit_batch(); },
      [self](tick_atom, bot_key bot) { self->state.on_window_end(bot); },
      [self](confirm_atom) { self->state.confirm_writer(); },
      [self](verified_atom) { self->state.on_verified(); },
      [self](shutdown_atom) { self->state.shut_down(); },
  };
}

}  // namespace

ledger_actor spawn_ledger(caf::actor_system& system, std::shared_ptr<storage::journal> journal,
                          ledger_config config, actor_thread thread) {
  if (thread == actor_thread::own)
    return system.spawn<caf::detached>(ledger_behavior, journal, std::move(config));
  return system.spawn(ledger_behavior, journal, std::move(config));
}

}  // namespace gq
