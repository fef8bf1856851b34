#pragma once
// The HTTP edge: one CAF io broker owning every client connection, on CAF's epoll multiplexer.
//
// I/O glue over plain classes: src/http/route.hpp decides what each request is, and a queue
// request becomes a request to the gate whose response promise ends up with a bucket; the
// verdict comes back here. A grant arrives journaled and ahead of its due instant: the edge
// serializes the 200 and hands it to its grant writer (src/pacing/grant_writer.hpp), which
// holds it, writes every grant due at an instant in one pass of the networking thread, woken by
// one timer, and tells the bucket that granted it (named in the verdict) `sent` with that time,
// so the interval runs from the moment the 200 left. A connection that closes while its request
// waits is a hang-up: the waiter is cancelled and costs nothing; if its grant is held here, the
// grant goes back to its bucket unwritten, for the next waiter. The contract: docs/HTTP_API.md.
//
// Memory per waiting connection is kept to a few hundred bytes: a small first read (the read
// buffer never shrinks), and no parser while the request waits.
//
// No client can hold a connection it does not use: a request must arrive whole within the request
// timeout (else 408), a keep-alive connection between requests closes after the idle timeout,
// and at the connection cap the oldest such connection is closed to let a new one in. A
// connection whose request is being answered (a waiter above all) has no deadline and is never
// closed by the server. One 1 s sweep enforces the deadlines (connection_deadlines.hpp).

#include <caf/actor_clock.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/connection_handle.hpp>
#include <caf/typed_response_promise.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "actors/archive.hpp"
#include "actors/bot_roster.hpp"
#include "actors/gate.hpp"
#include "actors/grant_handoff.hpp"
#include "actors/messages.hpp"
#include "src/http/connection_deadlines.hpp"
#include "src/http/render.hpp"
#include "src/http/request_parser.hpp"
#include "src/http/response.hpp"
#include "src/http/route.hpp"
#include "src/pacing/grant_writer.hpp"

namespace gq {

using http::k_default_max_waiting;

// The socket behind a CAF 0.17 connection handle: its id is the file descriptor (see
// is_socket_with_peer_port, which the edge checks once before it relies on this).
inline int socket_of(caf::io::connection_handle hdl) { return static_cast<int>(hdl.id()); }

// What finish_async is given for an answer already on its way (a grant written directly).
inline http::response already_written() {
  http::response r;
  r.status = 0;
  return r;
}

struct http_edge_config {
  // The bots, and where their waiters go (each bot's gate; none on a standby, which still knows
  // the bots so that it answers their callers 503 rather than 401 or 404).
  bot_roster_ptr bots;
  // Where /history goes; without it the edge starts as a standby (activate).
  archive_actor archive;
  std::optional<std::string> auth_token;              // QUEUE_AUTH_TOKEN: the operator's
  std::uint64_t max_waiting = k_default_max_waiting;  // QUEUE_MAX_WAITING, per bot
  // At this many open connections the oldest one without a request being answered is closed
  // for each new one; when there is none, accepting pauses.
  std::size_t max_connections = 19000;
  caf::timespan request_timeout = k_default_request_timeout;  // QUEUE_REQUEST_TIMEOUT_S
  caf::timespan idle_timeout = k_default_idle_timeout;        // QUEUE_IDLE_TIMEOUT_S
  clock_anchor anchor;
  http::request_limits limits;
  // The buckets' grants, beside the mailbox (the gate's too; null: verdicts only).
  std::shared_ptr<grant_handoff> handoff;
  // The grant writer's lead, sleep and report delay, and its late limit: with a shared journal
  // (a standby may take over) a grant later than k_recovery_margin past due is answered 503.
  grant_writer_timing grant_timing;
};

struct edge_state {
  struct connection {
    std::uint64_t serial = 0;  // handles are file descriptors, reused at once: this is not
    std::unique_ptr<http::request_parser> parser;  // absent while a queue request waits
    // Bytes that arrived while a request was being answered; rare, so not inline (every byte of
    // per-connection state counts 19,000 times).
    std::unique_ptr<std::string> backlog;
    bool busy = false;  // a request is being answered asynchronously
    bool keep_alive = true;
    bool caf_writing = false;     // CAF has bytes of ours for it not yet on the wire
    bool request_begun = false;   // part of a request has arrived, not all of it
    std::uint64_t waiter_id = 0;  // nonzero while a queue request waits
    shard_id shard;
    bot_key bot = 0;         // whose waiter it is
    deadline_link deadline;  // its request or idle deadline; kind none while busy
  };

  using broker_pointer = caf::io::stateful_broker<edge_state>*;
  using handle = caf::io::connection_handle;

  explicit edge_state(broker_pointer self) : self_(self), port_{this} {}

  void init(http_edge_config config) {
    config_ = std::move(config);
    counters_.auth_required = config_.auth_token.has_value();
    counters_.active = static_cast<bool>(config_.archive);
    deadlines_.set_timeouts(config_.request_timeout, config_.idle_timeout);
    writer_.emplace(port_, config_.grant_timing);
  }
  caf::result<std::uint16_t> listen(const std::string& host, std::uint16_t port);
  void on_accept(handle hdl);
  void on_data(handle hdl, const std::vector<char>& data);
  void on_closed(handle hdl);
  void on_transferred(handle hdl, std::uint64_t remaining);
  // Writes every held grant that is due (and waits for those due within the timer's lead).
  void on_grant_timer();
  // Called on every network event: a grant that fell due while requests pour in leaves between
  // two events instead of after the burst (the timer's message waits behind the events).
  void write_if_due();
  void on_report_timer() { writer_->on_report_timer(); }
  // Closes the connections whose request or idle deadline passed (at most a bounded number per
  // message, so that a mass expiry does not delay a grant pass).
  void on_deadline_sweep(bool periodic);
  // This process holds the journal now: waiters go to their bot's gate, /history to `archive`.
  void activate(bot_roster_ptr bots, archive_actor archive);
  // A reload changed the bots: the waiters of a bot no longer served are answered 503. A standby
  // takes the new names and tokens (its gates come with the next activate).
  void change_bots(bot_roster_ptr bots);
  // It no longer does: every waiter is answered 503 with Retry-After: 1 and no held grant is
  // written (another queue may grant in its bucket now); queue requests get the same until the
  // next activate.
  void stand_by();
  // Stops accepting, answers every waiter with 503 and replies once all are answered (true) or
  // the grace period ran out (false).
  caf::result<bool> shut_down();
  void force_finish_shutdown();

  static constexpr const char* name = "http_edge";

 private:
  // -- requests (http_edge.cpp) --
  void process(handle hdl, connection& conn, std::string_view input);
  // Returns false when it answered synchronously and the connection is gone.
  bool dispatch(handle hdl, connection& conn, const http::request& request);
  void enqueue(handle hdl, connection& conn, const http::queue_request& request);
  // -- answers asked of other actors (http_edge_answers.cpp) --
  // What the caller of a /status or /metrics may see of the edge's counters.
  edge_counters counters_seen(const http::status_request& request) const;
  // /status (with where a shard stands) or /metrics.
  bool answer_status(handle hdl, connection& conn, const http::status_request& request);
  bool answer_history(handle hdl, connection& conn, const http::history_request& request);
  // POST /outcome: journaled by the ledger through the gate, answered 204, 409 or 503.
  bool answer_outcome(handle hdl, connection& conn, const http::outcome_request& request);
  // -- connections (http_edge.cpp) --
  // Ends an asynchronous answer: writes `response` unless its status is 0 (already written,
  // already_written()), then closes or goes on with the bytes that arrived meanwhile.
  void finish_async(handle hdl, std::uint64_t serial, const http::response& response);
  // Writes the response; closes the connection unless keep-alive. False when closed.
  bool respond(handle hdl, connection& conn, const http::response& response);
  void drop(handle hdl);
  // Puts `conn` in the deadline list its state calls for (none while busy).
  void update_deadline(connection& conn);
  // At the cap: closes the oldest connection without a request being answered, other than
  // `arrived`; false when there is none.
  bool make_room(handle arrived);
  void maybe_finish_shutdown();
  connection* live(handle hdl, std::uint64_t serial);
  // The waiter on `conn` is answered or gone: it no longer counts as waiting.
  void end_wait(connection& conn);
  const gate_actor* gate_of(bot_key bot) const {
    return config_.bots ? config_.bots->gate_of(bot) : nullptr;
  }
  unix_ms now_unix() const;

  // -- grants (http_edge_grants.cpp) --
  // Holds the grants the buckets handed off since the last call (grant_handoff.hpp).
  void take_handed_off();
  void on_verdict(handle hdl, std::uint64_t serial, std::uint64_t waiter_id, verdict result);
  // A journaled grant for the waiter on `conn`: serialized now, held by the grant writer.
  void on_granted(handle hdl, connection* conn, std::uint64_t waiter_id, const verdict& grant);
  // Answers a waiter whose grant will not be written with 503 and Retry-After: 1 (the 503 of a
  // standby, a stopping queue, a late grant).
  void refuse_waiter(handle hdl, connection& conn, rejection reason, std::string_view message);
  // The grant CAF was writing on `hdl` is on the wire (or never will be): the writer reports it.
  void finish_unsent(handle hdl);

  broker_pointer self_;
  http_edge_config config_;
  caf::io::accept_handle acceptor_;
  bool accepting_ = false;
  std::uint64_t next_serial_ = 0;
  std::uint64_t next_waiter_id_ = 0;
  edge_counters counters_;
  std::unordered_map<bot_key, std::uint64_t> waiting_;  // per bot: QUEUE_MAX_WAITING each
  // Links in connections_ point into it; drop() takes a connection out before erasing it.
  connection_deadlines deadlines_;
  caf::actor_clock::time_point last_eviction_warning_{};
  std::unordered_map<handle, connection> connections_;
  bool shutting_down_ = false;
  std::optional<caf::typed_response_promise<bool>> shutdown_promise_;

  // A journaled grant waiting for its due instant (at most one per bucket).
  struct held_grant {
    std::uint64_t waiter_id = 0;
    caf::actor_clock::time_point due;  // as the bucket computed it and the journal holds it
    grant_owner_actor bucket;          // the one that granted it (from the verdict)
    handle hdl;
    std::uint64_t serial = 0;
    std::string bytes;  // the 200, serialized ahead so that the due pass only writes
  };
  // What the grant writer does through the edge: the clock, the timers, the sockets, the
  // buckets (http_edge_grants.cpp).
  struct writer_port {
    edge_state* edge;
    caf::actor_clock::time_point now() const;
    void sleep_until(caf::actor_clock::time_point t) const;
    void set_timer(caf::actor_clock::time_point at) const;
    void set_report_timer(caf::actor_clock::duration_type after) const;
    bool live(const held_grant& grant) const;
    // Straight to the socket, or (false) the rest via CAF's write loop.
    bool write(const held_grant& grant) const;
    void refuse(const held_grant& grant, grant_refusal why) const;
    void give_back(const held_grant& grant) const;
    void report(const grant_owner_actor& bucket, std::uint64_t waiter_id,
                caf::actor_clock::time_point sent_at) const;
    void dropped_late(std::size_t count) const;
  };
  writer_port port_;
  std::optional<grant_writer<held_grant, writer_port>> writer_;
  // Grants may be sent on the socket itself (checked at the first connection; writer_port::write).
  bool direct_writes_ = false;
  bool direct_writes_checked_ = false;
  // Grants CAF is writing (the socket did not take them at once). The bucket is told `sent`
  // when the write is acknowledged, so its interval runs from the moment the bytes left.
  struct unsent_grant {
    grant_owner_actor bucket;
    std::uint64_t waiter_id = 0;
    std::uint64_t serial = 0;
  };
  std::unordered_map<handle, unsent_grant> unsent_;
};

caf::behavior http_edge(caf::io::stateful_broker<edge_state>* self, http_edge_config config);

}  // namespace gq
