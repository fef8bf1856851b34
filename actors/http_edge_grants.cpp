// The HTTP edge's grant path: verdicts from the buckets, journaled grants held until they are
// due (grant_dispatcher), the due pass that writes them, and the `sent` reports back to the
// buckets.
// (The rest of edge_state, connections and requests: http_edge.cpp.)
#include <spdlog/spdlog.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/http_edge.hpp"
#include "src/http/socket_io.hpp"

namespace gq {

namespace {

// The grant timer fires this much ahead of the due instant; the networking thread sleeps out the
// rest itself. CAF's timer reaches a broker through two thread wake-ups (clock thread, then the
// multiplexer's pipe), 0.3 ms late typically and over 1 ms at the tail on a busy 2-core VM; one
// clock_nanosleep of the thread that writes is late by tens of microseconds.
constexpr auto k_grant_timer_lead = std::chrono::milliseconds{3};
// At most this much sleeping per pass (see on_grant_timer).
constexpr auto k_max_pass_sleep = std::chrono::milliseconds{4};
// How long a `sent` report may wait for the other grant writes in flight (see report_sent).
constexpr auto k_max_report_delay = std::chrono::milliseconds{5};

}  // namespace

void edge_state::take_handed_off() {
  if (!config_.handoff) return;
  for (auto& handed : config_.handoff->take()) {
    const auto hdl = handle::from_int(handed.connection);
    auto i = connections_.find(hdl);
    // Gone, or no longer this waiter's: the hang-up sent `cancel` already and the bucket passes
    // the grant on (as for a verdict).
    if (i == connections_.end() || i->second.waiter_id != handed.waiter_id) continue;
    if (!i->second.grant_held) on_granted(hdl, &i->second, handed.waiter_id, handed.grant);
  }
}

void edge_state::on_verdict(handle hdl, std::uint64_t serial, std::uint64_t waiter_id,
                            verdict result) {
  take_handed_off();
  auto* conn = live(hdl, serial);
  if (conn && conn->waiter_id != waiter_id) conn = nullptr;
  if (result.kind == verdict_kind::granted) {
    // Already held through the hand-off (or written, then conn is null): this copy is spare.
    if (conn && conn->grant_held) return;
    on_granted(hdl, conn, waiter_id, result);
    maybe_finish_shutdown();
    return;
  }
  if (conn) {
    conn->waiter_id = 0;
    --counters_.waiting;
    // A 429's Retry-After: whole seconds until the verdict's `at`, rounded up.
    const auto seconds_until_at = [&] { return (result.at - now_unix() + 999) / 1000; };
    switch (result.kind) {
      case verdict_kind::exhausted:
        counters_.count(rejection::exhausted);
        finish_async(
            hdl, serial,
            http::with_retry_after(http::json_error(429, "daily session start limit used up"),
                                   seconds_until_at()));
        break;
      case verdict_kind::looping:
        counters_.count(rejection::looping);
        finish_async(
            hdl, serial,
            http::with_retry_after(
                http::json_error(429, "shard " + std::to_string(conn->shard) +
                                          " is looping: granted too often in the last hour "
                                          "(QUEUE_SHARD_HOURLY_LIMIT); asks again after " +
                                          std::to_string(result.at) + " (unix ms)"),
                seconds_until_at()));
        break;
      case verdict_kind::reserved:
        counters_.count(rejection::reserve);
        finish_async(hdl, serial,
                     http::with_retry_after(
                         http::json_error(429,
                                          "the last session starts of the day are kept for "
                                          "reconnects (QUEUE_RESERVE): a boot (initial=true) "
                                          "waits for the reset"),
                         seconds_until_at()));
        break;
      case verdict_kind::unavailable:
        counters_.count(rejection::journal);
        finish_async(hdl, serial,
                     http::with_retry_after(
                         http::json_error(503, "journal unavailable, nothing granted"), 1));
        break;
      default:  // shutting down, or withdrawn (only ever for a client that has gone)
        if (result.kind == verdict_kind::shutting_down) counters_.count(rejection::shutdown);
        conn->keep_alive = false;  // the process is about to close it anyway
        finish_async(hdl, serial, stopping_response());
        break;
    }
  }
  maybe_finish_shutdown();
}

// A journaled grant: held by the dispatcher until the due instant its bucket computed, then
// written. The bucket hears `sent` exactly once, or gets it back with `cancel` if the client
// leaves before it was written.
void edge_state::on_granted(handle hdl, connection* conn, std::uint64_t waiter_id,
                            const verdict& grant) {
  // No connection: it closed while the verdict was on its way, and the edge sent `cancel` then
  // (on_closed); the bucket passes the grant on when that arrives.
  if (!conn) return;
  auto bucket = caf::actor_cast<bucket_actor>(grant.granted_by);
  const auto due = steady_instant(grant.due);
  if (shutting_down_ && due > self_->clock().now()) {
    // Journaled but not yet due when the queue stops: never a 200. It counts from its due
    // instant (nobody is left to pass it to).
    report_sent(bucket, waiter_id, due);
    conn->keep_alive = false;
    refuse_waiter(hdl, *conn, rejection::shutdown, k_stopping_message);
    return;
  }
  auto bytes = http::serialize(
      http::response{.status = 200,
                     .content_type = "application/json",
                     .body = render_grant(grant.bucket, grant.waited_ms, conn->shard),
                     .headers = {}},
      conn->keep_alive);
  dispatcher_.hold({waiter_id, due, std::move(bucket), hdl, conn->serial, std::move(bytes)});
  conn->grant_held = true;
  if (due <= self_->clock().now())
    write_due_grants();
  else
    schedule_grant_timer(due);
}

void edge_state::schedule_grant_timer(caf::actor_clock::time_point due) {
  if (grant_timer_ && *grant_timer_ <= due) return;
  grant_timer_ = due;
  self_->delayed_send(self_, due - k_grant_timer_lead - self_->clock().now(),
                      grant_timer_atom::value);
}

void edge_state::on_grant_timer() {
  grant_timer_.reset();
  take_handed_off();
  // Every grant due by now is written in one pass, and grants due within the timer lead are
  // waited for here (a timer round trip costs as much as the lead), up to k_max_pass_sleep per
  // pass so that other connections are not kept waiting. The buckets hear of the grants after
  // the pass (report_sent).
  in_grant_pass_ = true;
  caf::timespan slept{0};
  for (auto next = dispatcher_.next_due(); next; next = dispatcher_.next_due()) {
    const auto now = self_->clock().now();
    if (*next > now) {
      if (*next - now > k_grant_timer_lead || slept + (*next - now) > k_max_pass_sleep) break;
      sleep_until(*next);
      slept += *next - now;
    }
    write_due_grants();
  }
  in_grant_pass_ = false;
  if (unsent_.empty()) flush_reports();
  if (auto next = dispatcher_.next_due()) schedule_grant_timer(*next);
}

void edge_state::write_if_due() {
  if (in_grant_pass_) return;
  take_handed_off();
  const auto next = dispatcher_.next_due();
  if (!next || *next > self_->clock().now()) return;
  in_grant_pass_ = true;
  write_due_grants();
  in_grant_pass_ = false;
  if (unsent_.empty()) flush_reports();
}

void edge_state::write_due_grants() {
  std::size_t late = 0;
  for (auto& grant : dispatcher_.take_due(self_->clock().now())) {
    // A grant's connection is live: a hang-up withdraws its grant from the dispatcher.
    auto* conn = live(grant.hdl, grant.serial);
    if (!conn || conn->waiter_id != grant.waiter_id) {
      // Not reached (on_closed withdraws it), but never lose a journaled grant.
      self_->send(grant.bucket, cancel_atom::value, grant.waiter_id);
      continue;
    }
    if (!config_.late_grant_limit) {
      write_grant(*conn, grant);
      continue;
    }
    // The clock read right before the write: a process stopped (SIGSTOP, a VM pause) after the
    // grant was journaled may have lost the journal meanwhile, and the queue that took it over
    // waits only k_recovery_margin beyond the interval after this grant's journaled instant.
    const auto now = self_->clock().now();
    if (now - grant.due <= *config_.late_grant_limit) {
      write_grant(*conn, grant);
      continue;
    }
    ++late;
    report_sent(grant.bucket, grant.waiter_id, now);  // its row stands: the interval runs from now
    refuse_waiter(grant.hdl, *conn, rejection::late,
                  "the grant could not be sent in time and was dropped; retry");
  }
  if (late > 0)
    spdlog::warn("edge: {} grant(s) not sent: too late past due (the process was stalled)", late);
}

void edge_state::write_grant(connection& conn, const held_grant& grant) {
  conn.waiter_id = 0;
  conn.grant_held = false;
  --counters_.waiting;
  // Straight to the socket when CAF has nothing queued for it (ordering), so that a round of
  // grants leaves in this pass, a send() each, instead of one multiplexer round per 64 sockets.
  const auto& bytes = grant.bytes;
  const auto sent = direct_writes_ && !conn.caf_writing ? send_now(socket_of(grant.hdl), bytes) : 0;
  if (sent == bytes.size()) {
    // Stamped after send() returned: the interval runs from the real send, never before due.
    const auto report = decltype(dispatcher_)::written(grant, self_->clock().now());
    report_sent(report.bucket, report.waiter_id, report.sent_at);
    finish_async(grant.hdl, conn.serial, already_written());
    return;
  }
  // What the socket did not take now, CAF writes; `sent` is reported on its acknowledgement.
  unsent_[grant.hdl] = {grant.bucket, grant.waiter_id, conn.serial};
  conn.caf_writing = true;
  self_->write(grant.hdl, bytes.size() - sent, bytes.data() + sent);
  self_->flush(grant.hdl);
}

void edge_state::on_transferred(handle hdl, std::uint64_t remaining) {
  if (remaining > 0) return;
  auto conn = connections_.find(hdl);
  if (conn != connections_.end()) conn->second.caf_writing = false;
  auto i = unsent_.find(hdl);
  if (i == unsent_.end()) return;
  const auto serial = i->second.serial;
  report_sent(hdl);
  finish_async(hdl, serial, {});
}

void edge_state::report_sent(handle hdl) {
  auto i = unsent_.find(hdl);
  if (i == unsent_.end()) return;
  const auto grant = i->second;
  unsent_.erase(i);
  report_sent(grant.bucket, grant.waiter_id, self_->clock().now());
}

void edge_state::report_sent(const bucket_actor& bucket, std::uint64_t waiter_id,
                             caf::actor_clock::time_point at) {
  if (!bucket) return;
  pending_reports_.push_back({bucket, waiter_id, at});
  if (in_grant_pass_) return;
  if (unsent_.empty()) {
    flush_reports();
  } else if (!report_timer_set_) {
    report_timer_set_ = true;
    self_->delayed_send(self_, k_max_report_delay, report_timer_atom::value);
  }
}

void edge_state::on_report_timer() {
  report_timer_set_ = false;
  flush_reports();
}

void edge_state::flush_reports() {
  for (auto& r : pending_reports_)
    self_->send(r.bucket, sent_atom::value, r.waiter_id, r.sent_at.time_since_epoch());
  pending_reports_.clear();
}

// Grants journaled but not yet due when the queue stops: never a 200. Each counts from its due
// instant, as when nobody waits behind a hang-up.
void edge_state::answer_held_on_shutdown() {
  for (auto& grant : dispatcher_.take_all()) {
    report_sent(grant.bucket, grant.waiter_id, grant.due);
    auto* conn = live(grant.hdl, grant.serial);
    if (!conn || conn->waiter_id != grant.waiter_id) continue;
    conn->keep_alive = false;
    refuse_waiter(grant.hdl, *conn, rejection::shutdown, k_stopping_message);
  }
}

}  // namespace gq
