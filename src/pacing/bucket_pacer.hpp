#pragma once
// The spacing rule of one bucket, without actors or threads: the caller supplies the time.
//
// Invariant: two grants of a bucket are never *sent* less than `interval` apart. The interval
// runs from when a grant was sent (reported by the HTTP edge), not from when it was decided,
// because delivery between actors jitters by a millisecond or two.

#include <cassert>
#include <chrono>
#include <optional>

namespace gq {

class bucket_pacer {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  // Precondition: interval > 0 (checked in debug builds).
  explicit bucket_pacer(duration interval) : interval_(interval) {
    assert(interval > duration::zero() && "bucket_pacer needs a positive interval");
  }

  // Earliest instant at which the next grant may be decided.
  time_point next_grant_at() const { return next_grant_at_; }

  // When the last grant was sent, if one was: a bucket at rest keeps it, since a later widening
  // applies from it (set_interval).
  std::optional<time_point> last_sent() const {
    return has_sent_ ? std::optional<time_point>{last_sent_} : std::nullopt;
  }

  // Takes up where a bucket at rest left off: its last grant sent (if any) and the next instant
  // it allowed. Precondition: no grant was begun (checked in debug builds).
  void resume(std::optional<time_point> last_sent, time_point next_grant_at) {
    assert(!in_flight_ && "bucket_pacer::resume with a grant in flight");
    has_sent_ = last_sent.has_value();
    if (last_sent) last_sent_ = *last_sent;
    not_before(next_grant_at);
  }

  // True when no grant is in flight and the next one is due within `lead`: time to ask for its
  // permit, so that the journal commit is done by the time it is due.
  bool may_prepare(time_point now, duration lead) const {
    return !in_flight_ && now + lead >= next_grant_at_;
  }

  // A grant was decided and is on its way (journal commit, then the socket).
  // Precondition: none is in flight (checked in debug builds).
  void begin_grant() {
    assert(!in_flight_ && "bucket_pacer: two grants in flight");
    in_flight_ = true;
  }

  // The grant in flight reached the client's socket at `sent_at`.
  // Precondition: a grant is in flight (checked in debug builds), as for grant_abandoned().
  void grant_sent(time_point sent_at) {
    assert(in_flight_ && "bucket_pacer::grant_sent without a grant in flight");
    in_flight_ = false;
    last_sent_ = sent_at;
    has_sent_ = true;
    not_before(sent_at + interval_);
  }

  // The spacing changed (a bucket widened after Invalid Sessions, or narrowed back): it applies
  // from the last grant sent, so a wider one also delays the next grant not yet decided. A
  // narrower one never brings it forward.
  void set_interval(duration interval) {
    assert(interval > duration::zero() && "bucket_pacer needs a positive interval");
    interval_ = interval;
    if (has_sent_) not_before(last_sent_ + interval_);
  }

  // The grant in flight was not made (refused, withdrawn, journal failure): no interval is used.
  void grant_abandoned() {
    assert(in_flight_ && "bucket_pacer::grant_abandoned without a grant in flight");
    in_flight_ = false;
  }

  // Pushes the next grant to no sooner than `t` (recovery after a restart, re-bucketing).
  void not_before(time_point t) {
    if (t > next_grant_at_) next_grant_at_ = t;
  }

 private:
  duration interval_;
  time_point next_grant_at_{};
  time_point last_sent_{};
  bool has_sent_ = false;
  bool in_flight_ = false;
};

}  // namespace gq
