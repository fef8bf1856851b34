// The HTTP edge's grant path: verdicts from the buckets, and the port through which the grant
// writer (src/pacing/grant_writer.hpp), which owns when a journaled grant leaves, reaches the
// clock, the sockets and the buckets.
// (The rest of edge_state: http_edge.cpp (connections, requests), http_edge_answers.cpp,
// http_edge_role.cpp.)
#include <spdlog/spdlog.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/http_edge.hpp"
#include "src/http/socket_io.hpp"

namespace gq {

void edge_state::take_handed_off() {
  if (!config_.handoff) return;
  for (auto& handed : config_.handoff->take()) {
    const auto hdl = handle::from_int(handed.connection);
    auto i = connections_.find(hdl);
    // Gone, or no longer this waiter's: the hang-up sent `cancel` already and the bucket passes
    // the grant on (as for a verdict).
    if (i == connections_.end() || i->second.waiter_id != handed.waiter_id) continue;
    if (!writer_->holds(handed.waiter_id))
      on_granted(hdl, &i->second, handed.waiter_id, handed.grant);
  }
}

void edge_state::on_verdict(handle hdl, std::uint64_t serial, std::uint64_t waiter_id,
                            verdict result) {
  take_handed_off();
  auto* conn = live(hdl, serial);
  if (conn && conn->waiter_id != waiter_id) conn = nullptr;
  if (result.kind == verdict_kind::granted) {
    // Already held through the hand-off (or written, then conn is null): this copy is spare.
    if (conn && writer_->holds(waiter_id)) return;
    on_granted(hdl, conn, waiter_id, result);
    maybe_finish_shutdown();
    return;
  }
  if (conn) {
    end_wait(*conn);
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
                http::json_error(429, "shard " + std::to_string(*conn->shard) +
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
        finish_async(hdl, serial, http::retry_soon("journal unavailable, nothing granted"));
        break;
      default:  // shutting down, or withdrawn (only ever for a client that has gone)
        if (result.kind == verdict_kind::shutting_down) counters_.count(rejection::shutdown);
        conn->keep_alive = false;  // the process is about to close it anyway
        finish_async(hdl, serial, http::retry_soon(http::k_stopping_message));
        break;
    }
  }
  maybe_finish_shutdown();
}

void edge_state::on_granted(handle hdl, connection* conn, std::uint64_t waiter_id,
                            const verdict& grant) {
  // No connection: it closed while the verdict was on its way, and the edge sent `cancel` then
  // (on_closed); the bucket passes the grant on when that arrives.
  if (!conn) return;
  auto bytes = http::serialize(
      http::response{.status = 200,
                     .content_type = "application/json",
                     .body = render_grant(grant.bucket, grant.waited_ms, conn->shard),
                     .headers = {}},
      conn->keep_alive);
  writer_->hold({waiter_id, steady_instant(grant.due), grant.granted_by, hdl, conn->serial,
                 std::move(bytes)});
}

void edge_state::on_grant_timer() {
  take_handed_off();
  writer_->on_timer();
}

void edge_state::write_if_due() {
  take_handed_off();
  writer_->on_event();
}

void edge_state::on_transferred(handle hdl, std::uint64_t remaining) {
  if (remaining > 0) return;
  auto conn = connections_.find(hdl);
  if (conn != connections_.end()) conn->second.caf_writing = false;
  auto i = unsent_.find(hdl);
  if (i == unsent_.end()) return;
  const auto serial = i->second.serial;
  finish_unsent(hdl);
  finish_async(hdl, serial, {});
}

void edge_state::finish_unsent(handle hdl) {
  auto i = unsent_.find(hdl);
  if (i == unsent_.end()) return;
  const auto grant = i->second;
  unsent_.erase(i);
  writer_->write_finished(grant.bucket, grant.waiter_id);
}

// -- the grant writer's port ----------------------------------------------------------------------

caf::actor_clock::time_point edge_state::writer_port::now() const {
  return edge->self_->clock().now();
}

void edge_state::writer_port::sleep_until(caf::actor_clock::time_point t) const {
  gq::sleep_until(t);
}

void edge_state::writer_port::set_timer(caf::actor_clock::time_point at) const {
  edge->self_->delayed_send(edge->self_, at - now(), grant_timer_atom::value);
}

void edge_state::writer_port::set_report_timer(caf::actor_clock::duration_type after) const {
  edge->self_->delayed_send(edge->self_, after, report_timer_atom::value);
}

bool edge_state::writer_port::live(const held_grant& grant) const {
  auto* conn = edge->live(grant.hdl, grant.serial);
  return conn && conn->waiter_id == grant.waiter_id;
}

bool edge_state::writer_port::write(const held_grant& grant) const {
  auto& conn = *edge->live(grant.hdl, grant.serial);  // the writer asked live() first
  edge->end_wait(conn);
  // Straight to the socket when CAF has nothing queued for it (ordering), so that a round of
  // grants leaves in this pass, a send() each, instead of one multiplexer round per 64 sockets.
  const auto& bytes = grant.bytes;
  const auto sent =
      edge->direct_writes_ && !conn.caf_writing ? send_now(socket_of(grant.hdl), bytes) : 0;
  if (sent == bytes.size()) {
    edge->finish_async(grant.hdl, conn.serial, already_written());
    return true;
  }
  // What the socket did not take now, CAF writes; the writer hears on its acknowledgement.
  edge->unsent_[grant.hdl] = {grant.bucket, grant.waiter_id, conn.serial};
  conn.caf_writing = true;
  edge->self_->write(grant.hdl, bytes.size() - sent, bytes.data() + sent);
  edge->self_->flush(grant.hdl);
  return false;
}

void edge_state::writer_port::refuse(const held_grant& grant, grant_refusal why) const {
  auto& conn = *edge->live(grant.hdl, grant.serial);
  if (why == grant_refusal::stopping) {
    conn.keep_alive = false;  // the process is about to close it anyway
    edge->refuse_waiter(grant.hdl, conn, rejection::shutdown, http::k_stopping_message);
  } else {
    edge->refuse_waiter(grant.hdl, conn, rejection::late,
                        "the grant could not be sent in time and was dropped; retry");
  }
}

void edge_state::writer_port::give_back(const held_grant& grant) const {
  edge->self_->send(grant.bucket, cancel_atom::value, grant.waiter_id);
}

void edge_state::writer_port::report(const grant_owner_actor& bucket, std::uint64_t waiter_id,
                                     caf::actor_clock::time_point sent_at) const {
  if (bucket) edge->self_->send(bucket, sent_atom::value, waiter_id, sent_at.time_since_epoch());
}

void edge_state::writer_port::dropped_late(std::size_t count) const {
  spdlog::warn("edge: {} grant(s) not sent: too late past due (the process was stalled)", count);
}

}  // namespace gq
