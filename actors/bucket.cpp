#include "actors/bucket.hpp"

#include <spdlog/spdlog.h>

#include <caf/all.hpp>

namespace gq {

namespace {

// How many of a bucket's newest outcomes /status shows.
constexpr std::size_t k_last_outcomes = 5;

}  // namespace

void bucket_state::init(bucket_config config) {
  config_ = std::move(config);
  auto& rest = config_.rest;
  widening_ = rest.widening;
  invalid_sessions_ = rest.invalid_sessions;
  last_outcomes_ = std::move(rest.last_outcomes);
  pacer_.emplace(spacing());
  std::optional<caf::actor_clock::time_point> last_sent;
  if (rest.last_sent) last_sent = steady_instant(*rest.last_sent);
  pacer_->resume(last_sent, steady_instant(rest.next_grant_at));
  config_.rest = {};  // taken over by the members above: nothing stale stays behind
}

unix_ms bucket_state::now_unix() const { return config_.anchor.to_unix(self_->clock().now()); }

caf::timespan bucket_state::spacing() const {
  return config_.interval + widening_.extra(now_unix());
}

caf::result<verdict> bucket_state::enqueue(const waiter_ticket& ticket) {
  ++received_;
  asked_to_rest_ = false;
  auto promise = self_->make_response_promise<verdict>();
  if (shutting_down_) {
    promise.deliver(verdict::of(verdict_kind::shutting_down));
    return promise;
  }
  waiter w{ticket, promise};
  if (drain_promise_) {
    hand_over(w);  // arrived while this bucket is being re-formed: follow the others
    return promise;
  }
  queue_.emplace(ticket.id, std::move(w));
  try_grant();
  return promise;
}

void bucket_state::try_grant() {
  if (config_.held || shutting_down_ || drain_promise_ || current_) return;
  if (queue_.empty()) {
    rest_if_idle();
    return;
  }
  const auto now = self_->clock().now();
  if (!pacer_->may_prepare(now, k_permit_lead)) {
    schedule_tick(pacer_->next_grant_at() - k_permit_lead);
    return;
  }
  auto head = queue_.begin();
  current_ = std::move(head->second);
  queue_.erase(head);
  phase_ = phase::asking;
  current_left_ = false;
  pacer_->begin_grant();
  // The earliest instant the spacing allows; the ledger decides the due instant from it when it
  // commits (grant_due), and everyone after uses the verdict's copy.
  const auto earliest = pacer_->next_grant_at().time_since_epoch();
  const auto id = current_->ticket.id;
  auto self = self_;
  self_
      ->request(config_.ledger, caf::infinite, permit_atom::value, config_.bot, current_->ticket, config_.index,
                config_.max_concurrency, caf::timespan{earliest})
      .then([self, id](verdict result) { self->state.on_verdict(id, result); },
            [self, id](caf::error&) {
              self->state.on_verdict(id, verdict::of(verdict_kind::unavailable));
            });
}

void bucket_state::on_verdict(std::uint64_t waiter_id, verdict result) {
  if (!current_ || current_->ticket.id != waiter_id || phase_ != phase::asking) return;
  if (result.kind == verdict_kind::granted) {
    result.bucket = config_.index;
    result.granted_by = caf::actor_cast<grant_owner_actor>(self_);
    grant_ = result;
    phase_ = phase::sending;
    if (current_left_) {
      // Journaled before the hang-up was seen: the grant goes to the next waiter.
      pass_on();
      return;
    }
    deliver_grant(*current_);  // the edge holds it until `due`, then reports `sent`
    return;
  }
  pacer_->grant_abandoned();
  if (result.kind == verdict_kind::withdrawn && !current_left_) {
    // Withdrawn for re-bucketing: the waiter moves on with the others.
    queue_.emplace(waiter_id, std::move(*current_));
  } else if (result.kind == verdict_kind::deferred && !current_left_) {
    set_aside(std::move(*current_), result.at);
  } else if (!current_left_) {
    current_->promise.deliver(result);
  }
  if (result.kind == verdict_kind::exhausted) {
    // Refused until the reset: so is everyone behind it, and they should know now.
    for (auto& [id, w] : queue_) w.promise.deliver(result);
    queue_.clear();
  }
  current_.reset();
  after_grant_attempt();
}

void bucket_state::pass_on() {
  if (queue_.empty() || shutting_down_ || drain_promise_) {
    // Nobody to take it: the grant counts as sent at its due instant (the earliest it could
    // have left), and the interval runs from there.
    pacer_->set_interval(spacing());
    pacer_->grant_sent(steady_instant(grant_.due));
    current_.reset();
    after_grant_attempt();
    return;
  }
  const auto previous_shard = current_->ticket.shard;
  auto head = queue_.begin();
  current_ = std::move(head->second);
  queue_.erase(head);
  current_left_ = false;
  // Same row, same due instant, same budget unit: only the waiter changes.
  grant_.waited_ms = waited_ms(current_->ticket.arrived_at, grant_.at);
  self_->send(config_.ledger, reattribute_atom::value, config_.bot, grant_.due, config_.index,
              config_.max_concurrency, previous_shard, current_->ticket);
  deliver_grant(*current_);
}

void bucket_state::deliver_grant(waiter& w) {
  if (config_.handoff) config_.handoff->push({w.ticket.connection, w.ticket.id, grant_});
  w.promise.deliver(grant_);
}

void bucket_state::on_sent(std::uint64_t waiter_id, caf::timespan sent_at) {
  if (!current_ || current_->ticket.id != waiter_id || phase_ != phase::sending) return;
  pacer_->set_interval(spacing());
  pacer_->grant_sent(steady_instant(sent_at));
  current_.reset();
  after_grant_attempt();
}

void bucket_state::after_grant_attempt() {
  if (drain_promise_)
    finish_drain();
  else
    try_grant();
}

void bucket_state::cancel(std::uint64_t waiter_id) {
  for (auto* line : {&queue_, &set_aside_}) {
    if (auto i = line->find(waiter_id); i != line->end()) {
      i->second.promise.deliver(verdict::of(verdict_kind::withdrawn));
      line->erase(i);
      rest_if_idle();
      return;
    }
  }
  if (!current_ || current_->ticket.id != waiter_id || current_left_) return;
  if (phase_ == phase::asking) {
    // The ledger may hold or be committing this permit; it answers `withdrawn` or `granted`.
    current_left_ = true;
    current_->promise.deliver(verdict::of(verdict_kind::withdrawn));
    self_->send(config_.ledger, withdraw_atom::value, config_.bot, waiter_id);
    return;
  }
  // Journaled and handed to the edge, which gives it back unwritten (the edge sends `cancel`
  // only for a grant it did not write): the next waiter takes it at the same due instant.
  pass_on();
}

void bucket_state::on_tick() {
  tick_due_.reset();
  if (!set_aside_.empty()) {
    if (self_->clock().now() >= set_aside_until_)
      queue_.merge(set_aside_);  // keyed by arrival: they take their places in line again
    else
      schedule_tick(set_aside_until_);
  }
  try_grant();
}

void bucket_state::set_aside(waiter w, unix_ms until) {
  set_aside_until_ = config_.anchor.from_unix(until);
  set_aside_.emplace(w.ticket.id, std::move(w));
  schedule_tick(set_aside_until_);
}

void bucket_state::on_outcome(std::uint64_t shard, const grant_outcome& outcome,
                              unix_ms granted_at) {
  ++received_;
  asked_to_rest_ = false;
  last_outcomes_.insert(last_outcomes_.begin(), {shard, outcome, outcome.reported_at - granted_at});
  if (last_outcomes_.size() > k_last_outcomes) last_outcomes_.pop_back();
  if (outcome.result == outcome_result::invalid_session) {
    ++invalid_sessions_;
    if (widening_.on_invalid_session(granted_at, outcome.reported_at)) {
      const auto widened = spacing();
      pacer_->set_interval(widened);
      spdlog::warn(
          "bucket {}: shard {} reported an Invalid Session {} ms after its grant; spacing the "
          "bucket {} ms apart",
          config_.index, shard, outcome.reported_at - granted_at,
          std::chrono::duration_cast<std::chrono::milliseconds>(widened).count());
    }
  }
  rest_if_idle();  // what it remembers changed: it asks again, with the new record
}

void bucket_state::rest_if_idle() {
  if (asked_to_rest_ || !config_.owner || config_.held || shutting_down_ || drain_promise_ ||
      current_ || !queue_.empty() || !set_aside_.empty())
    return;
  // Resting before the next grant is allowed would save little, and a waiter arriving meanwhile
  // would find the bucket busy anyway; from then on a new bucket may grant at once.
  const auto next = pacer_->next_grant_at();
  if (self_->clock().now() < next) {
    schedule_tick(next);
    return;
  }
  asked_to_rest_ = true;
  auto self = self_;
  self_
      ->request(config_.owner, caf::infinite, idle_atom::value, config_.index, at_rest(), received_)
      .then(
          [self](bool rests) {
            if (rests) self->quit();  // the gate sends it nothing more
          },
          [](caf::error&) {});  // the gate is gone: the link ends this bucket too
}

bucket_rest bucket_state::at_rest() const {
  bucket_rest rest;
  rest.next_grant_at = pacer_->next_grant_at().time_since_epoch();
  if (const auto sent = pacer_->last_sent()) rest.last_sent = sent->time_since_epoch();
  rest.widening = widening_;
  rest.invalid_sessions = invalid_sessions_;
  rest.last_outcomes = last_outcomes_;
  return rest;
}

void bucket_state::schedule_tick(caf::actor_clock::time_point due) {
  if (tick_due_ && *tick_due_ <= due) return;
  tick_due_ = due;
  self_->delayed_send(self_, due - self_->clock().now(), tick_atom::value);
}

void bucket_state::hand_over(waiter& w) {
  w.promise.delegate(drain_line_, enqueue_atom::value, w.ticket);
}

caf::result<caf::timespan> bucket_state::drain(waiter_line_actor line) {
  auto promise = self_->make_response_promise<caf::timespan>();
  drain_promise_ = promise;
  drain_line_ = std::move(line);
  queue_.merge(set_aside_);  // the new buckets ask the ledger again
  for (auto& [id, w] : queue_) hand_over(w);
  queue_.clear();
  if (!current_)
    finish_drain();
  else if (phase_ == phase::asking && !current_left_)
    self_->send(config_.ledger, withdraw_atom::value, config_.bot, current_->ticket.id);
  return promise;
}

void bucket_state::finish_drain() {
  for (auto& [id, w] : queue_) hand_over(w);  // a withdrawn head came back
  queue_.clear();
  drain_promise_->deliver(caf::timespan{pacer_->next_grant_at().time_since_epoch()});
  drain_promise_.reset();
  self_->quit();
}

void bucket_state::release(caf::timespan not_before) {
  config_.held = false;
  pacer_->not_before(steady_instant(not_before));
  try_grant();
}

bucket_status status_at_rest(std::uint32_t index, const bucket_rest& rest, caf::timespan interval,
                             const clock_anchor& anchor, caf::actor_clock::time_point now) {
  const auto spacing = interval + rest.widening.extra(anchor.to_unix(now));
  bucket_status result;
  result.bucket = index;
  result.interval_ms = std::chrono::duration_cast<std::chrono::milliseconds>(spacing).count();
  result.invalid_sessions = rest.invalid_sessions;
  result.last_outcomes = rest.last_outcomes;
  result.next_grant_at = anchor.to_unix(std::max(now, steady_instant(rest.next_grant_at)));
  result.head_at = result.next_grant_at;
  return result;
}

bucket_status bucket_state::status(shard_id shard) const {
  const bool head_waiting = current_ && phase_ == phase::asking && !current_left_;
  // (A grant passed on to a waiter after a hang-up is in phase sending: it is not waiting.)
  const auto now = self_->clock().now();
  const auto next = std::max(now, pacer_->next_grant_at());
  auto result = status_at_rest(config_.index, at_rest(), config_.interval, config_.anchor, now);
  result.waiting = queue_.size() + set_aside_.size() + (head_waiting ? 1 : 0);
  // A grant on its way to the edge (or one whose client left while it was asked for) takes the
  // next slot; the first waiter comes one interval after it.
  result.head_at = config_.anchor.to_unix(current_ && !head_waiting ? next + spacing() : next);
  if (!shard) return result;
  std::uint64_t place = 0;
  if (head_waiting) {
    ++place;
    if (current_->ticket.shard == shard) {
      result.shard_position = place;
      return result;
    }
  }
  for (const auto& [id, w] : queue_) {
    ++place;
    if (w.ticket.shard == shard) {
      result.shard_position = place;
      break;
    }
  }
  return result;
}

void bucket_state::shut_down() {
  shutting_down_ = true;
  queue_.merge(set_aside_);
  for (auto& [id, w] : queue_) w.promise.deliver(verdict::of(verdict_kind::shutting_down));
  queue_.clear();
  if (current_ && phase_ == phase::asking && !current_left_) {
    current_left_ = true;  // its verdict, when it comes, goes nowhere
    current_->promise.deliver(verdict::of(verdict_kind::shutting_down));
  }
  // A grant already with the edge: the edge answers 503 unless it is due (docs/HTTP_API.md).
}

bucket_self_actor::behavior_type bucket(bucket_state::pointer self, bucket_config config) {
  self->state.init(std::move(config));
  return {
      [self](enqueue_atom, const waiter_ticket& ticket) { return self->state.enqueue(ticket); },
      [self](cancel_atom, std::uint64_t waiter_id) { self->state.cancel(waiter_id); },
      [self](sent_atom, std::uint64_t waiter_id, caf::timespan sent_at) {
        self->state.on_sent(waiter_id, sent_at);
      },
      [self](tick_atom) { self->state.on_tick(); },
      [self](drain_atom, waiter_line_actor line) { return self->state.drain(std::move(line)); },
      [self](release_atom, caf::timespan not_before) { self->state.release(not_before); },
      [self](status_atom) { return self->state.status(); },
      [self](outcome_atom, std::uint64_t shard, const grant_outcome& outcome, unix_ms granted_at) {
        self->state.on_outcome(shard, outcome, granted_at);
      },
      [self](status_atom, shard_id shard) { return self->state.status(shard); },
      [self](shutdown_atom) { self->state.shut_down(); },
  };
}

}  // namespace gq
