#pragma once
// The one owner of a journaled grant's way out: it holds each grant until its due instant
// (grant_dispatcher), wakes a little ahead and sleeps out the rest, writes every grant due by
// then in one pass, refuses a grant too late past due (late limit) or not yet due when the queue
// stops, gives a grant back when its waiter hangs up, and reports `sent` to the bucket that
// granted it, batched until the pass and the writes in flight are done.
//
// Plain C++ over a Port, which does the I/O and holds the clock, so every rule is tested with a
// fake clock (tests/src/pacing/grant_writer_test.cpp): the HTTP edge's port writes to sockets
// on CAF's clock, the actor tests' fake edge records what it would write.
//
// `Grant` needs members `waiter_id` (unique among held grants), `due` (a steady time_point) and
// `bucket` (whom to report to). `Port` provides:
//   time_point now();                         the clock
//   void sleep_until(time_point);             the writing thread sleeps (short: the timer lead)
//   void set_timer(time_point);               on_timer() at that instant
//   void set_report_timer(duration);          on_report_timer() after that
//   bool live(const Grant&);                  its waiter is still there to be answered
//   bool write(const Grant&);                 writes the 200; false: not whole yet (the port
//                                             calls write_finished() once it is)
//   void refuse(const Grant&, refusal);       answers the waiter 503 instead (Retry-After: 1)
//   void give_back(const Grant&);             the bucket gets the grant back (`cancel`)
//   void report(const bucket_ref&, std::uint64_t waiter_id, time_point sent_at);   `sent`
//   void dropped_late(std::size_t count);     grants refused in one pass for being too late
//
// Invariants: a 200 is never written before its due instant; every grant taken in is reported
// exactly once (sent, refused or dropped: at its due instant or later) or given back.

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "src/pacing/grant_dispatcher.hpp"

namespace gq {

// Why a journaled grant is answered 503 instead of 200.
enum class grant_refusal : std::uint8_t {
  stopping,  // the queue stops before it is due
  late,      // it would leave more than the late limit past its due instant
};

struct grant_writer_timing {
  using duration = std::chrono::steady_clock::duration;
  // The timer fires this much ahead of the due instant; the writing thread sleeps out the rest.
  // CAF's timer reaches a broker through two thread wake-ups (clock thread, then the
  // multiplexer's pipe), 0.3 ms late typically and over 1 ms at the tail on a busy 2-core VM;
  // one clock_nanosleep of the thread that writes is late by tens of microseconds.
  duration timer_lead = std::chrono::milliseconds{3};
  // At most this much sleeping per pass, so that other connections are not kept waiting.
  duration max_pass_sleep = std::chrono::milliseconds{4};
  // How long a `sent` report may wait for the other grant writes in flight: the buckets'
  // bookkeeping and timers do not compete for the cores while a round of grants is written.
  duration max_report_delay = std::chrono::milliseconds{5};
  // Where a standby may take the journal over (k_recovery_margin of recovery.hpp): a grant this
  // late past its due instant is refused. Unset: a late grant is written late (no other process
  // can grant meanwhile, and its bucket's interval runs from the moment it left).
  std::optional<duration> late_limit;
};

template <class Grant, class Port>
class grant_writer {
 public:
  using dispatcher = grant_dispatcher<Grant>;
  using time_point = typename dispatcher::time_point;
  using bucket_ref = typename dispatcher::bucket_ref;

  grant_writer(Port& port, grant_writer_timing timing) : port_(port), timing_(timing) {}

  // A journaled grant for a live waiter: held until due, written at once if due already.
  void hold(Grant grant) {
    if (stopping_ && grant.due > port_.now()) {
      // Journaled but not yet due when the queue stops: never a 200. It counts from its due
      // instant (nobody is left to pass it to).
      queue_report(grant.bucket, grant.waiter_id, grant.due);
      port_.refuse(grant, grant_refusal::stopping);
      return;
    }
    const auto due = grant.due;
    if (!dispatcher_.hold(std::move(grant))) return;  // a waiter has at most one grant
    // Held during a pass (a hang-up seen while writing): the timer comes back for it at once.
    if (due <= port_.now() && !in_pass_)
      on_event();
    else
      schedule_timer(due);
  }

  bool holds(std::uint64_t waiter_id) const { return dispatcher_.holds(waiter_id); }

  // The waiter hung up: a grant held for it goes back to its bucket unwritten, which gives it
  // to its next waiter at the same due instant. False when none was held.
  bool give_back(std::uint64_t waiter_id) {
    auto grant = dispatcher_.withdraw(waiter_id);
    if (!grant) return false;
    port_.give_back(*grant);
    return true;
  }

  // The timer: every grant due by now is written in one pass, and grants due within the timer
  // lead are slept for here (a timer round trip costs as much as the lead), up to
  // max_pass_sleep per pass. The buckets hear of the grants after the pass.
  void on_timer() {
    timer_.reset();
    in_pass_ = true;
    typename time_point::duration slept{0};
    for (auto next = dispatcher_.next_due(); next; next = dispatcher_.next_due()) {
      const auto now = port_.now();
      if (*next > now) {
        const auto wait = *next - now;
        if (wait > timing_.timer_lead || slept + wait > timing_.max_pass_sleep) break;
        port_.sleep_until(*next);
        slept += wait;
      }
      write_due();
    }
    end_pass();
    if (auto next = dispatcher_.next_due()) schedule_timer(*next);
  }

  // Any other event of the writing thread (a read, an accept, a close): a grant that fell due
  // meanwhile leaves now, between two events, rather than behind a burst of them.
  void on_event() {
    if (in_pass_) return;
    const auto next = dispatcher_.next_due();
    if (!next || *next > port_.now()) return;
    in_pass_ = true;
    write_due();
    end_pass();
  }

  // A write that was not whole (Port::write returned false) is on the wire now, or never will
  // be (the connection closed): the interval runs from now.
  void write_finished(const bucket_ref& bucket, std::uint64_t waiter_id) {
    --unfinished_;
    queue_report(bucket, waiter_id, port_.now());
  }

  void on_report_timer() {
    report_timer_set_ = false;
    flush_reports();
  }

  // The queue stops: no held grant is written. Each counts from its due instant, as when nobody
  // waits behind a hang-up, and its waiter is refused. Grants held from now on are refused
  // unless already due.
  void stop() {
    stopping_ = true;
    for (auto& grant : dispatcher_.take_all()) {
      queue_report(grant.bucket, grant.waiter_id, grant.due);
      if (port_.live(grant)) port_.refuse(grant, grant_refusal::stopping);
    }
  }

  // This process lost the journal: another queue may grant in these buckets now, so no held
  // grant may leave, however close to due, and nobody is left to report to. Returns them.
  std::vector<Grant> abandon() {
    timer_.reset();
    return dispatcher_.take_all();
  }

 private:
  void write_due() {
    std::size_t late = 0;
    for (auto& grant : dispatcher_.take_due(port_.now())) {
      if (!port_.live(grant)) {
        // Not reached (a hang-up gives its grant back first), but never lose a journaled grant.
        port_.give_back(grant);
        continue;
      }
      // The clock read right before the write: a process stopped (SIGSTOP, a VM pause) after the
      // grant was journaled may have lost the journal meanwhile, and the queue that took it over
      // waits only the late limit beyond the interval after this grant's journaled instant.
      const auto now = port_.now();
      if (timing_.late_limit && now - grant.due > *timing_.late_limit) {
        ++late;
        queue_report(grant.bucket, grant.waiter_id, now);  // its row stands: it runs from now
        port_.refuse(grant, grant_refusal::late);
        continue;
      }
      if (!port_.write(grant)) {
        ++unfinished_;  // reported by write_finished()
        continue;
      }
      // Stamped after the write returned: the interval runs from the real send, never before due.
      const auto report = dispatcher::written(grant, port_.now());
      queue_report(report.bucket, report.waiter_id, report.sent_at);
    }
    if (late > 0) port_.dropped_late(late);
  }

  void end_pass() {
    in_pass_ = false;
    settle_reports();
  }

  void schedule_timer(time_point due) {
    if (timer_ && *timer_ <= due) return;
    timer_ = due;
    port_.set_timer(due - timing_.timer_lead);
  }

  void queue_report(const bucket_ref& bucket, std::uint64_t waiter_id, time_point at) {
    pending_reports_.push_back({bucket, waiter_id, at});
    if (!in_pass_) settle_reports();
  }

  // The reports wait until no grant write is in flight, at most max_report_delay.
  void settle_reports() {
    if (pending_reports_.empty()) return;
    if (unfinished_ == 0) {
      flush_reports();
    } else if (!report_timer_set_) {
      report_timer_set_ = true;
      port_.set_report_timer(timing_.max_report_delay);
    }
  }

  void flush_reports() {
    auto reports = std::move(pending_reports_);
    pending_reports_.clear();
    for (auto& r : reports) port_.report(r.bucket, r.waiter_id, r.sent_at);
  }

  Port& port_;
  grant_writer_timing timing_;
  dispatcher dispatcher_;
  std::optional<time_point> timer_;  // the due instant the timer was set for
  bool in_pass_ = false;
  bool stopping_ = false;
  std::size_t unfinished_ = 0;  // writes the port is finishing
  std::vector<typename dispatcher::sent_report> pending_reports_;
  bool report_timer_set_ = false;
};

}  // namespace gq
