#include "actors/gate.hpp"

#include <spdlog/spdlog.h>

#include <caf/all.hpp>
#include <memory>

#include "src/pacing/eta.hpp"

namespace gq {

namespace {

grant_estimate to_message(const eta_estimate& e) {
  return e.at ? grant_estimate{true, *e.at, {}} : grant_estimate{false, 0, e.reason};
}

// Fills in the estimates of a gathered status: the buckets' drain times and the asked shard's
// grant. Runs here, on a scheduler thread, not on the networking thread that answers.
void estimate(queue_status& status, unix_ms interval_ms) {
  const auto& ledger = status.ledger;
  const eta_budget budget{ledger.limits_known, ledger.limits.remaining, ledger.limits.total,
                          ledger.limits.reset_at, ledger.reject_when_exhausted};
  std::vector<eta_bucket> line;
  for (const auto& b : status.buckets) line.push_back({b.head_at, b.waiting, b.interval_ms});
  std::optional<eta_place> place;
  if (status.shard && !status.buckets.empty()) {
    const auto bucket = bucket_of(status.shard, status.buckets.size());
    status.shard_position = status.buckets[bucket].shard_position;
    // Position 0 (not waiting) is not a place: estimate_grants answers "not waiting".
    place = eta_place{bucket, status.shard_position};
  }
  const auto result = estimate_grants(line, interval_ms, budget, place);
  for (std::size_t i = 0; i < status.buckets.size(); ++i)
    status.buckets[i].drain = to_message(result.drain_at[i]);
  if (place) status.shard_eta = to_message(result.place);
}

}  // namespace

void gate_state::init(gate_config config) {
  config_ = std::move(config);
  for (std::uint32_t i = 0; i < config_.max_concurrency; ++i) {
    const auto resume = i < config_.resume_at.size() ? config_.resume_at[i] : 0;
    buckets_.push_back(spawn_bucket(i, {.not_before = resume}));
  }
}

bucket_actor gate_state::spawn_bucket(std::uint32_t index, bucket_start start) {
  bucket_config cfg;
  cfg.bot = config_.bot;
  cfg.index = index;
  cfg.max_concurrency = config_.max_concurrency;
  cfg.interval = config_.interval;
  cfg.ledger = config_.ledger;
  cfg.anchor = config_.anchor;
  cfg.not_before = start.not_before;
  cfg.held = start.held;
  cfg.handoff = config_.handoff;
  cfg.widening =
      index < config_.widened.size() ? config_.widened[index] : bucket_widening(config_.widening);
  return self_->spawn<caf::linked>(bucket, std::move(cfg));  // they end with the gate
}

caf::result<verdict> gate_state::enqueue(const waiter_ticket& ticket) {
  if (shutting_down_) return verdict::of(verdict_kind::shutting_down);
  if (!ticket.shard && buckets_.size() > 1 && !warned_missing_shard_) {
    warned_missing_shard_ = true;
    spdlog::warn("a request without ?shard= goes to bucket 0, but max_concurrency is {}",
                 buckets_.size());
  }
  return self_->delegate(buckets_[bucket_of(ticket.shard, buckets_.size())], enqueue_atom::value,
                         ticket);
}

void gate_state::cancel(std::uint64_t waiter_id, shard_id shard) {
  self_->send(buckets_[bucket_of(shard, buckets_.size())], cancel_atom::value, waiter_id);
  if (drains_pending_ > 0) {
    // The waiter may still be with its old bucket, or on its way to the new one: tell the old
    // bucket now and the new one once every hand-over has arrived.
    self_->send(old_buckets_[bucket_of(shard, old_buckets_.size())], cancel_atom::value, waiter_id);
    cancels_during_resize_.emplace_back(waiter_id, shard);
  }
}

void gate_state::resize(std::uint32_t max_concurrency) {
  if (shutting_down_ || max_concurrency == 0) return;
  if (drains_pending_ > 0) {
    next_size_ = max_concurrency;
    return;
  }
  if (max_concurrency == config_.max_concurrency) return;
  spdlog::info("max_concurrency {} -> {}: re-forming the buckets", config_.max_concurrency,
               max_concurrency);
  config_.max_concurrency = max_concurrency;
  config_.widened.clear();  // the buckets' shards change: what was learned does not carry over
  old_buckets_ = std::move(buckets_);
  buckets_.clear();
  std::vector<waiter_line_actor> targets;
  for (std::uint32_t i = 0; i < max_concurrency; ++i) {
    buckets_.push_back(spawn_bucket(i, {.held = true}));
    targets.emplace_back(buckets_.back());
  }
  drains_pending_ = old_buckets_.size();
  release_at_ = caf::timespan{0};
  auto self = self_;
  for (auto& old : old_buckets_) {
    self_->request(old, caf::infinite, drain_atom::value, targets)
        .then(
            [self](caf::timespan next_grant_at) {
              auto& st = self->state;
              st.release_at_ = std::max(st.release_at_, next_grant_at);
              if (--st.drains_pending_ == 0) st.finish_resize();
            },
            [self](caf::error&) {
              if (--self->state.drains_pending_ == 0) self->state.finish_resize();
            });
  }
}

void gate_state::finish_resize() {
  // Every hand-over is in the new buckets' mailboxes before this point, so the cancels and the
  // release below reach them after their waiters.
  for (auto [waiter_id, shard] : cancels_during_resize_)
    self_->send(buckets_[bucket_of(shard, buckets_.size())], cancel_atom::value, waiter_id);
  cancels_during_resize_.clear();
  for (auto& b : buckets_) self_->send(b, release_atom::value, release_at_);
  old_buckets_.clear();
  if (shutting_down_) {
    for (auto& b : buckets_) self_->send(b, shutdown_atom::value);
    return;
  }
  if (next_size_) {
    const auto size = *next_size_;
    next_size_.reset();
    resize(size);
  }
}

caf::result<outcome_receipt> gate_state::outcome(const outcome_report& report) {
  auto promise = self_->make_response_promise<outcome_receipt>();
  auto self = self_;
  self_->request(config_.ledger, caf::infinite, outcome_atom::value, config_.bot, report)
      .then(
          [self, promise, report](outcome_receipt receipt) mutable {
            auto& st = self->state;
            const auto& row = receipt.row;
            // A grant made under another max_concurrency belongs to no bucket of today's, and
            // while the buckets are re-formed none of them stays: neither widens.
            if (receipt.answer == outcome_answer::journaled &&
                row.max_concurrency == st.config_.max_concurrency &&
                row.bucket < st.buckets_.size() && st.drains_pending_ == 0) {
              self->send(st.buckets_[row.bucket], outcome_atom::value, report.shard, report.outcome,
                         row.released_at);
            }
            promise.deliver(receipt);
          },
          [promise](caf::error&) mutable { promise.deliver(outcome_receipt{}); });
  return promise;
}

caf::result<queue_status> gate_state::status(shard_id shard) {
  struct collector {
    queue_status result;
    std::size_t pending = 0;
  };
  auto promise = self_->make_response_promise<queue_status>();
  auto shared = std::make_shared<collector>();
  shared->result.max_concurrency = config_.max_concurrency;
  shared->result.identify_interval_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.interval).count();
  shared->result.shard = shard;
  shared->result.buckets.resize(buckets_.size());
  shared->pending = buckets_.size() + 1;
  const auto interval_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.interval).count();
  auto done = [promise, shared, interval_ms]() mutable {
    if (--shared->pending != 0) return;
    estimate(shared->result, interval_ms);
    promise.deliver(shared->result);
  };
  const auto asked_bucket = shard ? bucket_of(shard, buckets_.size()) : buckets_.size();
  self_->request(config_.ledger, caf::infinite, status_atom::value, config_.bot)
      .then(
          [shared, done](ledger_status s) mutable {
            shared->result.ledger = std::move(s);
            done();
          },
          [done](caf::error&) mutable { done(); });
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    shared->result.buckets[i].bucket = static_cast<std::uint32_t>(i);
    const auto shard_here = i == asked_bucket ? shard : shard_id{};
    self_->request(buckets_[i], caf::infinite, status_atom::value, shard_here)
        .then(
            [shared, done, i](bucket_status s) mutable {
              shared->result.buckets[i] = s;
              done();
            },
            [done](caf::error&) mutable { done(); });
  }
  return promise;
}

void gate_state::shut_down() {
  shutting_down_ = true;
  for (auto& b : buckets_) self_->send(b, shutdown_atom::value);
  for (auto& b : old_buckets_) self_->send(b, shutdown_atom::value);
  // The ledger is every bot's: whoever stops the queue stops it (the edge), not one bot's gate.
}

gate_actor::behavior_type gate(gate_state::pointer self, gate_config config) {
  self->state.init(std::move(config));
  return {
      [self](enqueue_atom, const waiter_ticket& ticket) { return self->state.enqueue(ticket); },
      [self](cancel_atom, std::uint64_t waiter_id, shard_id shard) {
        self->state.cancel(waiter_id, shard);
      },
      [self](resize_atom, std::uint32_t max_concurrency) { self->state.resize(max_concurrency); },
      [self](outcome_atom, const outcome_report& report) { return self->state.outcome(report); },
      [self](status_atom) { return self->state.status(); },
      [self](status_atom, shard_id shard) { return self->state.status(shard); },
      [self](shutdown_atom) { self->state.shut_down(); },
  };
}

}  // namespace gq
