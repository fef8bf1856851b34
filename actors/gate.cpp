#include "actors/gate.hpp"

#include <spdlog/spdlog.h>

#include <caf/all.hpp>
#include <memory>
#include <utility>

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
  const auto now = self_->clock().now();
  for (std::uint32_t i = 0; i < config_.max_concurrency; ++i) {
    auto& rest = slots_.emplace_back().rest;
    if (i < config_.widened.size())
      rest.widening = config_.widened[i];
    else
      rest.widening = bucket_widening(config_.widening);
    // A widened bucket resumes widened: its first grant after a restart waits the extra too.
    const auto resume = i < config_.resume_at.size() ? config_.resume_at[i] : 0;
    if (resume > 0) {
      const auto extra = rest.widening.extra(config_.anchor.to_unix(now)).count();
      rest.next_grant_at = config_.anchor.from_unix(resume + extra).time_since_epoch();
    }
  }
  config_.resume_at.clear();  // in the rest records now
  config_.widened.clear();
}

bucket_rest gate_state::fresh_rest() const {
  bucket_rest rest;
  rest.widening = bucket_widening(config_.widening);
  return rest;
}

gate_state::bucket_slot& gate_state::wake(std::uint32_t index) {
  auto& slot = slots_[index];
  if (slot.live) return slot;
  bucket_config cfg;
  cfg.bot = config_.bot;
  cfg.index = index;
  cfg.max_concurrency = config_.max_concurrency;
  cfg.interval = config_.interval;
  cfg.ledger = config_.ledger;
  cfg.anchor = config_.anchor;
  cfg.rest = std::exchange(slot.rest, {});
  cfg.held = drains_pending_ > 0;
  cfg.handoff = config_.handoff;
  cfg.owner = caf::actor_cast<bucket_owner_actor>(self_);
  slot.live = self_->spawn<caf::linked>(bucket, std::move(cfg));  // they end with the gate
  slot.sent = 0;
  return slot;
}

caf::result<verdict> gate_state::enqueue(const waiter_ticket& ticket) {
  if (shutting_down_) return verdict::of(verdict_kind::shutting_down);
  if (!ticket.shard && slots_.size() > 1 && !warned_missing_shard_) {
    warned_missing_shard_ = true;
    spdlog::warn("a request without ?shard= goes to bucket 0, but max_concurrency is {}",
                 slots_.size());
  }
  auto& slot = wake(static_cast<std::uint32_t>(bucket_of(ticket.shard, slots_.size())));
  ++slot.sent;
  return self_->delegate(slot.live, enqueue_atom::value, ticket);
}

void gate_state::cancel(std::uint64_t waiter_id, shard_id shard) {
  // A resting bucket holds no waiter: nothing to cancel there.
  if (const auto& live = slots_[bucket_of(shard, slots_.size())].live)
    self_->send(live, cancel_atom::value, waiter_id);
  if (drains_pending_ > 0) {
    // The waiter may still be with its old bucket, or on its way to the new one: tell the old
    // bucket now and the new one once every hand-over has arrived.
    if (const auto& old = old_slots_[bucket_of(shard, old_slots_.size())].live)
      self_->send(old, cancel_atom::value, waiter_id);
    cancels_during_resize_.emplace_back(waiter_id, shard);
  }
}

bool gate_state::on_idle(std::uint32_t index, bucket_rest rest, std::uint64_t received) {
  if (shutting_down_ || index >= slots_.size()) return false;
  auto& slot = slots_[index];
  // Not the bucket of its index (re-bucketing replaced it: its drain is on its way), or an
  // enqueue or outcome is on its way to it: it stays.
  if (!slot.live || caf::actor_cast<caf::actor_addr>(slot.live) != self_->current_sender() ||
      received != slot.sent)
    return false;
  slot.rest = std::move(rest);
  slot.live = nullptr;  // it ends on this answer, and nothing more is sent to it
  slot.sent = 0;
  return true;
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
  old_slots_ = std::move(slots_);
  // The buckets' shards change: what was learned does not carry over.
  slots_.assign(max_concurrency, bucket_slot{{}, 0, fresh_rest()});
  release_at_ = caf::timespan{0};
  const auto line = caf::actor_cast<waiter_line_actor>(self_);
  auto self = self_;
  for (auto& old : old_slots_) {
    if (!old.live) {
      // Resting: nothing to hand over, and its next grant instant counts as a drained one's.
      release_at_ = std::max(release_at_, old.rest.next_grant_at);
      continue;
    }
    ++drains_pending_;
    self_->request(old.live, caf::infinite, drain_atom::value, line)
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
  if (drains_pending_ == 0) finish_resize();
}

void gate_state::finish_resize() {
  // Every hand-over has come through here before the last drain's answer (one sender, one
  // receiver: in order), so the new buckets have their waiters before the cancels and the
  // release below.
  for (auto [waiter_id, shard] : cancels_during_resize_) {
    if (const auto& live = slots_[bucket_of(shard, slots_.size())].live)
      self_->send(live, cancel_atom::value, waiter_id);
  }
  cancels_during_resize_.clear();
  for (auto& slot : slots_) {
    if (slot.live)
      self_->send(slot.live, release_atom::value, release_at_);
    else
      slot.rest.next_grant_at = release_at_;
  }
  old_slots_.clear();
  if (shutting_down_) {
    for (auto& slot : slots_)
      if (slot.live) self_->send(slot.live, shutdown_atom::value);
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
            // while the buckets are re-formed none of them stays: neither widens. A resting
            // bucket wakes for it, so that it widens exactly as it would have awake.
            if (receipt.answer == outcome_answer::journaled && !st.shutting_down_ &&
                row.max_concurrency == st.config_.max_concurrency &&
                row.bucket < st.slots_.size() && st.drains_pending_ == 0) {
              auto& slot = st.wake(row.bucket);
              ++slot.sent;
              self->send(slot.live, outcome_atom::value, report.shard, report.outcome,
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
  shared->result.buckets.resize(slots_.size());
  shared->pending = 1;
  const auto interval_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.interval).count();
  auto done = [promise, shared, interval_ms]() mutable {
    if (--shared->pending != 0) return;
    estimate(shared->result, interval_ms);
    promise.deliver(shared->result);
  };
  const auto asked_bucket = shard ? bucket_of(shard, slots_.size()) : slots_.size();
  const auto now = self_->clock().now();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const auto index = static_cast<std::uint32_t>(i);
    if (!slots_[i].live) {
      // Resting: nobody waits there, the shard included.
      shared->result.buckets[i] =
          status_at_rest(index, slots_[i].rest, config_.interval, config_.anchor, now);
      continue;
    }
    ++shared->pending;
    shared->result.buckets[i].bucket = index;
    const auto shard_here = i == asked_bucket ? shard : shard_id{};
    self_->request(slots_[i].live, caf::infinite, status_atom::value, shard_here)
        .then(
            [shared, done, i](bucket_status s) mutable {
              shared->result.buckets[i] = s;
              done();
            },
            [done](caf::error&) mutable { done(); });
  }
  self_->request(config_.ledger, caf::infinite, status_atom::value, config_.bot)
      .then(
          [shared, done](ledger_status s) mutable {
            shared->result.ledger = std::move(s);
            done();
          },
          [done](caf::error&) mutable { done(); });
  return promise;
}

void gate_state::shut_down() {
  shutting_down_ = true;
  for (const auto* slots : {&slots_, &old_slots_}) {
    for (const auto& slot : *slots)
      if (slot.live) self_->send(slot.live, shutdown_atom::value);
  }
  // The ledger is every bot's: whoever stops the queue stops it (the edge), not one bot's gate.
}

gate_self_actor::behavior_type gate(gate_state::pointer self, gate_config config) {
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
      [self](idle_atom, std::uint32_t index, bucket_rest& rest, std::uint64_t received) {
        return self->state.on_idle(index, std::move(rest), received);
      },
      [self](shutdown_atom) { self->state.shut_down(); },
  };
}

}  // namespace gq
