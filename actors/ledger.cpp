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
  wait_counts_.assign(wait_histogram_bounds().size(), 0);
  commit_seconds_.counts.assign(commit_histogram_bounds().size(), 0);
  discord_up_ = config_.configured.has_value();  // no token: Discord is not needed
  if (config_.on_writer_lost)
    self_->delayed_send(self_, config_.writer_check_interval, confirm_atom::value);
  if (!config_.await_verified) on_verified();
}

// Everything that touches the journal starts here: before it, permits wait in held_ (no limits
// are known) and fetched limits wait in early_limits_, so a damaged journal never grants.
void ledger_state::on_verified() {
  if (verified_) return;
  verified_ = true;
  restore();
  if (early_limits_) {
    const auto limits = *early_limits_;
    early_limits_.reset();
    on_limits(limits);
  }
  admit_held();
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

// Continues the daily window the journal remembers, so a restart cannot overspend it.
void ledger_state::restore() {
  const auto t = now();
  std::optional<session_limits> remembered;
  try {
    remembered = journal_->recover().limits;
  } catch (const storage::journal_error& e) {
    spdlog::error("journal: cannot read the last limits: {}", e.what());
  }
  if (config_.configured) {
    auto limits = *config_.configured;
    limits.fetched_at = t;
    limits.remaining = limits.total;
    const bool window_running = remembered && remembered->reset_at > t &&
                                remembered->reset_at <= t + daily_budget::k_day_ms;
    limits.reset_at = window_running ? remembered->reset_at : t + daily_budget::k_day_ms;
    apply(limits, 0);
    // A restart or a takeover within the window, configured as before, has nothing new to say:
    // every such start would otherwise add a row that differs only in its fetched_at.
    const bool already_journaled = remembered && remembered->source == limits_source::config &&
                                   remembered->total == limits.total &&
                                   remembered->max_concurrency == limits.max_concurrency &&
                                   remembered->reset_at == limits.reset_at;
    try {
      if (!already_journaled) timed([&] { journal_->record_limits(limits); });
    } catch (const storage::journal_error& e) {
      spdlog::error("journal: cannot record the configured limits: {}", e.what());
    }
  } else if (remembered && remembered->source == limits_source::discord) {
    const auto limits = daily_budget::rolled(*remembered, t);
    std::uint64_t since_fetch = 0;
    try {
      since_fetch = journal_->count_releases_since(limits.fetched_at);
    } catch (const storage::journal_error& e) {
      spdlog::error("journal: cannot count grants: {}", e.what());
      since_fetch = limits.remaining;  // fail closed: nothing to spend until a fetch succeeds
    }
    apply(limits, since_fetch);
    spdlog::info("limits: serving journaled Discord limits until the first fetch ({} remaining)",
                 budget_.available());
  }
  try {
    for (const auto& grant : journal_->shard_grants_since(t - shard_grants::k_window_ms))
      shard_grants_.record(grant.shard, grant.row);
  } catch (const storage::journal_error& e) {
    spdlog::error("journal: cannot read the last hour's grants (loop guard, outcomes): {}",
                  e.what());
  }
  schedule_window_end();
}

void ledger_state::apply(const session_limits& limits, std::uint64_t grants_since_fetch) {
  std::uint64_t in_window = limits.total;  // fail closed if the journal cannot be read
  try {
    in_window =
        journal_->count_releases_since(limits.reset_at - daily_budget::k_day_ms) + batch_.size();
  } catch (const storage::journal_error& e) {
    spdlog::error("journal: cannot count this window's grants, holding grants: {}", e.what());
  }
  budget_.apply(limits, grants_since_fetch, in_window);
}

void ledger_state::on_permit(pending_permit permit) {
  if (shutting_down_) {
    permit.promise.deliver(verdict::of(verdict_kind::shutting_down));
    return;
  }
  if (writer_lost_) {
    permit.promise.deliver(verdict::of(verdict_kind::unavailable));
    return;
  }
  on_window_end();  // a reset that passed since the last tick refills before this decision
  if (auto until = looping_until(permit.ticket, now())) {
    permit.promise.deliver(verdict::of(verdict_kind::looping, *until));
    return;
  }
  if (kept_by_reserve(permit.ticket)) {
    permit.promise.deliver(
        verdict::of(config_.reject_when_exhausted ? verdict_kind::reserved : verdict_kind::deferred,
                    budget_.reset_at()));
    return;
  }
  if (budget_.known() && held_.empty() && budget_.available() > 0) {
    admit(std::move(permit));
  } else if (budget_.known() && config_.reject_when_exhausted) {
    permit.promise.deliver(verdict::of(verdict_kind::exhausted, budget_.reset_at()));
  } else {
    held_.push_back(std::move(permit));
  }
}

void ledger_state::admit(pending_permit permit) {
  budget_.consume();
  ++grants_admitted_;
  batch_.push_back(std::move(permit));
  schedule_flush();
  if (budget_.available() == 0) {
    spdlog::info("budget: no session starts left until {} (unix ms)", budget_.reset_at());
    notify_watcher();
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
    records.push_back(record);
  }
  const auto moved = std::move(reattributions_);
  reattributions_.clear();
  auto reported = std::move(outcomes_);
  outcomes_.clear();
  std::vector<release_outcome> outcomes;
  outcomes.reserve(reported.size());
  for (const auto& pending : reported) outcomes.push_back(pending.outcome);
  try {
    timed([&] { journal_->record_releases(records, moved, outcomes); });
  } catch (const storage::journal_error& e) {
    for (auto& pending : reported) pending.promise.deliver(outcome_receipt{});  // unavailable
    ++journal_failures_;
    spdlog::error("journal: commit failed, {} grant(s) refused with 503: {}", batch_.size(),
                  e.what());
    for (auto& permit : batch_) {
      budget_.refund();
      --grants_admitted_;
      permit.promise.deliver(verdict::of(verdict_kind::unavailable));
    }
    batch_.clear();
    // The grants re-attributed went out already and their rows stand (counted, timed right);
    // only the shard and wait they name are lost.
    if (!moved.empty())
      spdlog::warn("journal: {} grant row(s) keep the shard of a waiter that left", moved.size());
    check_writer_lost();
    return;
  }
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    ++grants_total_;
    last_grant_at_ = std::max(last_grant_at_, records[i].released_at);
    if (records[i].shard)
      shard_grants_.record(*records[i].shard,
                           {records[i].released_at, records[i].bucket, records[i].max_concurrency});
    observe_wait(records[i].waited_ms);
    verdict granted = verdict::of(verdict_kind::granted, records[i].released_at);
    granted.waited_ms = records[i].waited_ms;
    granted.bucket = batch_[i].bucket;
    granted.due = batch_[i].due;
    batch_[i].promise.deliver(granted);
  }
  batch_.clear();
  for (auto& pending : reported)
    pending.promise.deliver(outcome_receipt{outcome_answer::journaled, pending.outcome.row});
  forget_old_grants(now());
}

void ledger_state::on_withdraw(std::uint64_t waiter_id) {
  auto held = std::find_if(held_.begin(), held_.end(),
                           [&](const pending_permit& p) { return p.ticket.id == waiter_id; });
  if (held == held_.end()) return;  // already admitted: the grant stands
  held->promise.deliver(verdict::of(verdict_kind::withdrawn));
  held_.erase(held);
}

void ledger_state::on_limits(const session_limits& limits) {
  if (!verified_) {
    early_limits_ = limits;
    return;
  }
  last_refresh_ = now();
  apply(limits, grants_admitted_ - fetch_mark_);
  spdlog::info("limits: total {}, remaining {} (effective {}), max_concurrency {}, reset in {} s",
               limits.total, limits.remaining, budget_.available(), limits.max_concurrency,
               (limits.reset_at - last_refresh_) / 1000);
  try {
    timed([&] { journal_->record_limits(limits); });
  } catch (const storage::journal_error& e) {
    spdlog::error("journal: cannot record fetched limits: {}", e.what());
    check_writer_lost();
  }
  admit_held();
  schedule_window_end();
}

void ledger_state::admit_held() {
  while (!shutting_down_ && !held_.empty() && budget_.available() > 0) {
    auto permit = std::move(held_.front());
    held_.pop_front();
    admit(std::move(permit));
  }
  if (budget_.known() && config_.reject_when_exhausted) {
    for (auto& permit : held_)
      permit.promise.deliver(verdict::of(verdict_kind::exhausted, budget_.reset_at()));
    held_.clear();
  }
}

void ledger_state::on_window_end() {
  if (budget_.roll(now())) {
    // The limits scheduler re-reads Discord a moment after the reset on its own timer.
    spdlog::info("budget: daily window reset, {} session starts available", budget_.available());
    admit_held();
  }
  schedule_window_end();
}

void ledger_state::schedule_window_end() {
  if (!budget_.known() || budget_.reset_at() == window_timer_for_) return;
  window_timer_for_ = budget_.reset_at();
  const auto due = config_.anchor.from_unix(budget_.reset_at());
  const auto delay = std::max(due - self_->clock().now(), caf::actor_clock::duration_type{0});
  self_->delayed_send(self_, delay, tick_atom::value);
}

void ledger_state::notify_watcher() {
  if (watcher_) caf::anon_send(watcher_, refresh_atom::value);
}

void ledger_state::shut_down() {
  shutting_down_ = true;
  // Nothing is granted once the queue stops: admitted but uncommitted permits are refused too.
  for (auto& permit : batch_) {
    budget_.refund();
    --grants_admitted_;
    permit.promise.deliver(verdict::of(verdict_kind::shutting_down));
  }
  batch_.clear();
  for (auto& permit : held_) permit.promise.deliver(verdict::of(verdict_kind::shutting_down));
  held_.clear();
  for (auto& pending : outcomes_) pending.promise.deliver(outcome_receipt{});
  outcomes_.clear();
}

namespace {

ledger_self_actor::behavior_type ledger_behavior(
    ledger_self_actor::stateful_pointer<ledger_state> self,
    std::shared_ptr<storage::journal> journal, ledger_config config) {
  self->state.init(std::move(journal), std::move(config));
  return {
      [self](permit_atom, waiter_ticket ticket, std::uint32_t bucket, std::uint32_t max_concurrency,
             caf::timespan due) -> caf::result<verdict> {
        auto promise = self->make_response_promise<verdict>();
        self->state.on_permit({ticket, bucket, max_concurrency, due, promise});
        return promise;
      },
      [self](reattribute_atom, caf::timespan due, std::uint32_t bucket,
             std::uint32_t max_concurrency, shard_id previous_shard, const waiter_ticket& waiter) {
        self->state.on_reattribute(due, bucket, max_concurrency, previous_shard, waiter);
      },
      [self](outcome_atom, const outcome_report& report) -> caf::result<outcome_receipt> {
        auto promise = self->make_response_promise<outcome_receipt>();
        self->state.on_outcome(report, promise);
        return promise;
      },
      [self](withdraw_atom, std::uint64_t waiter_id) { self->state.on_withdraw(waiter_id); },
      [self](fetching_atom) { self->state.mark_fetch(); },
      [self](limits_atom, const session_limits& limits) { self->state.on_limits(limits); },
      [self](stopped_atom) { self->state.mark_discord_stopped(); },
      [self](refreshed_atom, refresh_result result) { self->state.count_refresh(result); },
      [self](watch_atom, refresh_target_actor watcher) { self->state.watch(std::move(watcher)); },
      [self](status_atom) { return self->state.status(); },
      [self](flush_atom) { self->state.commit_batch(); },
      [self](tick_atom) { self->state.on_window_end(); },
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
