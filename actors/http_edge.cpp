#include "actors/http_edge.hpp"

#include <spdlog/spdlog.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "src/http/socket_io.hpp"

namespace gq {

namespace {

// The first read sizes a connection's read buffer for good (it never shrinks): 64 bytes hold a
// bare `GET /?shard=N`; longer requests arrive in several reads, which the parser copes with.
constexpr std::size_t k_read_chunk = 64;
// Bytes a client may send ahead (pipelining) while its request is being answered.
constexpr std::size_t k_max_backlog = 16 * 1024;
// Answers a client may leave unread (queued in CAF once its socket buffer is full) before it is
// disconnected: pipelining without reading must not grow the server's memory.
constexpr std::size_t k_max_unread_output = 64 * 1024;
// How long shutdown waits for waiters to be answered before it closes their connections.
constexpr auto k_shutdown_grace = std::chrono::seconds{3};

// The deadline sweep's period: a timeout fires up to this much after its deadline.
constexpr auto k_sweep_period = std::chrono::seconds{1};
// Connections one sweep message closes; the rest wait for the next message, behind any grant
// timer already queued.
constexpr int k_max_expiries_per_message = 64;
// Evictions are logged at most this often.
constexpr auto k_eviction_warning_period = std::chrono::minutes{1};

}  // namespace

unix_ms edge_state::now_unix() const { return config_.anchor.to_unix(self_->clock().now()); }

caf::result<std::uint16_t> edge_state::listen(const std::string& host, std::uint16_t port) {
  auto bound = self_->add_tcp_doorman(port, host.c_str(), true);
  if (!bound) return std::move(bound.error());
  acceptor_ = bound->first;
  accepting_ = true;
  self_->delayed_send(self_, k_sweep_period, deadline_atom::value, true);
  return bound->second;
}

void edge_state::on_accept(handle hdl) {
  write_if_due();
  auto& conn = connections_[hdl];
  conn.serial = ++next_serial_;
  conn.deadline.owner = static_cast<std::int32_t>(hdl.id());
  deadlines_.set(conn.deadline, deadline_kind::fresh, self_->clock().now());
  ++counters_.connections;
  self_->configure_read(hdl, caf::io::receive_policy::at_most(k_read_chunk));
  self_->ack_writes(hdl, true);  // on_transferred tracks what CAF still has to write
  if (!direct_writes_checked_) {
    direct_writes_checked_ = true;
    direct_writes_ = is_socket_with_peer_port(socket_of(hdl), self_->remote_port(hdl));
    if (!direct_writes_)
      spdlog::warn("edge: connection handles are not sockets; grants go through CAF's write loop");
  }
  if (accepting_ && connections_.size() >= config_.max_connections && !make_room(hdl)) {
    // At the file limit accept() would fail in a loop; with every connection in use, stop asking
    // until one closes or falls idle (update_deadline).
    accepting_ = false;
    self_->halt(acceptor_);
    spdlog::warn("edge: {} connections open, pausing accept", connections_.size());
  }
}

void edge_state::on_data(handle hdl, const std::vector<char>& data) {
  write_if_due();
  auto i = connections_.find(hdl);
  if (i == connections_.end()) return;
  auto& conn = i->second;
  if (conn.busy) {
    // Pipelined bytes (or noise) behind a request still being answered: keep for later.
    if (!conn.backlog) conn.backlog = std::make_unique<std::string>();
    if (conn.backlog->size() + data.size() > k_max_backlog) {
      spdlog::debug("edge: closing a connection that sent {} bytes ahead", conn.backlog->size());
      self_->close(hdl);
      on_closed(hdl);
      return;
    }
    conn.backlog->append(data.data(), data.size());
    return;
  }
  process(hdl, conn, std::string_view{data.data(), data.size()});
}

void edge_state::process(handle hdl, connection& conn, std::string_view input) {
  while (!input.empty() && !conn.busy) {
    if (!conn.parser) conn.parser = std::make_unique<http::request_parser>(config_.limits);
    const auto fed = conn.parser->feed(input);
    input.remove_prefix(fed.consumed);
    if (fed.status == http::request_parser::state::need_more) {
      conn.request_begun = true;
      break;
    }
    if (fed.status == http::request_parser::state::failed) {
      conn.keep_alive = false;
      counters_.count(rejection::bad_request);
      respond(hdl, conn,
              http::json_error(conn.parser->error_status(), conn.parser->error_reason()));
      return;
    }
    auto request = conn.parser->current();
    conn.parser->next();
    conn.request_begun = false;
    // A whole request: whatever its answer, the connection is no longer new (update_deadline).
    deadlines_.set(conn.deadline, deadline_kind::none, self_->clock().now());
    conn.keep_alive = request.keep_alive;
    if (!dispatch(hdl, conn, request)) return;
  }
  if (!input.empty()) {
    if (!conn.backlog) conn.backlog = std::make_unique<std::string>();
    conn.backlog->append(input);
  }
  update_deadline(conn);
}

void edge_state::update_deadline(connection& conn) {
  auto kind = deadline_kind::idle;
  if (conn.busy)
    kind = deadline_kind::none;
  else if (conn.request_begun)
    kind = deadline_kind::reading;
  else if (conn.deadline.kind() == deadline_kind::fresh)
    kind = deadline_kind::fresh;  // still no byte since the connect
  deadlines_.set(conn.deadline, kind, self_->clock().now());
  if (kind != deadline_kind::none && !accepting_ && !shutting_down_) {
    // Accepting paused with every connection in use; now there is one to make room with.
    accepting_ = true;
    self_->trigger(acceptor_);
  }
}

bool edge_state::make_room(handle arrived) {
  auto* oldest = deadlines_.oldest();
  if (!oldest || oldest->owner == arrived.id()) return false;
  const auto now = self_->clock().now();
  if (now - last_eviction_warning_ >= k_eviction_warning_period) {
    last_eviction_warning_ = now;
    spdlog::warn("edge: {} connections open (the cap), closing the oldest idle ones to make room",
                 connections_.size());
  }
  const auto victim = handle::from_int(oldest->owner);
  self_->close(victim);
  drop(victim);
  return true;
}

void edge_state::on_deadline_sweep(bool periodic) {
  if (periodic) self_->delayed_send(self_, k_sweep_period, deadline_atom::value, true);
  const auto now = self_->clock().now();
  for (int closed = 0; closed < k_max_expiries_per_message; ++closed) {
    auto* expired = deadlines_.first_expired(now);
    if (!expired) return;
    const auto hdl = handle::from_int(expired->owner);
    auto i = connections_.find(hdl);
    if (i == connections_.end()) {  // cannot happen: drop() unlinks before it erases
      deadlines_.set(*expired, deadline_kind::none, now);
      continue;
    }
    auto& conn = i->second;
    if (expired->kind() == deadline_kind::reading) {
      // Part of a request came, not all of it: say why before closing.
      conn.keep_alive = false;
      respond(hdl, conn, http::json_error(408, "the request did not arrive in time"));
    } else {
      self_->close(hdl);  // fresh or idle: nothing was asked, nothing to answer
      drop(hdl);
    }
  }
  if (deadlines_.first_expired(now)) self_->send(self_, deadline_atom::value, false);
}

bool edge_state::dispatch(handle hdl, connection& conn, const http::request& request) {
  static const http::bot_directory no_bots;
  const http::edge_view view{.auth_token = config_.auth_token,
                             .bots = config_.bots ? config_.bots->directory : no_bots,
                             .active = counters_.active,
                             .stopping = shutting_down_,
                             .full = [this](bot_key bot) {
                               auto found = waiting_.find(bot);
                               return found != waiting_.end() &&
                                      found->second >= config_.max_waiting;
                             }};
  auto action = http::route(request, view);
  if (auto* now = std::get_if<http::immediate>(&action)) {
    if (now->counted) counters_.count(*now->counted);
    return respond(hdl, conn, now->answer);
  }
  if (auto* status = std::get_if<http::status_request>(&action))
    return answer_status(hdl, conn, *status);
  if (auto* history = std::get_if<http::history_request>(&action))
    return answer_history(hdl, conn, *history);
  if (auto* outcome = std::get_if<http::outcome_request>(&action))
    return answer_outcome(hdl, conn, *outcome);
  enqueue(hdl, conn, std::get<http::queue_request>(action));
  return true;
}

void edge_state::enqueue(handle hdl, connection& conn, const http::queue_request& request) {
  const waiter_ticket ticket{++next_waiter_id_, request.shard, now_unix(),
                             static_cast<std::int32_t>(hdl.id()), request.initial};
  conn.busy = true;
  conn.waiter_id = ticket.id;
  conn.shard = ticket.shard;
  conn.bot = request.bot;
  conn.parser.reset();  // a waiter needs no parser; pipelined bytes wait in the backlog
  ++counters_.waiting;
  ++waiting_[request.bot];
  const auto serial = conn.serial;
  auto self = self_;
  self_->request(*gate_of(request.bot), caf::infinite, enqueue_atom::value, ticket)
      .then([self, hdl, serial,
             id = ticket.id](verdict result) { self->state.on_verdict(hdl, serial, id, result); },
            [self, hdl, serial, id = ticket.id](caf::error&) {
              self->state.on_verdict(hdl, serial, id, verdict::of(verdict_kind::unavailable));
            });
}

void edge_state::finish_async(handle hdl, std::uint64_t serial, const http::response& response) {
  auto* conn = live(hdl, serial);
  if (!conn) return;
  conn->busy = false;
  if (response.status != 0) {
    if (!respond(hdl, *conn, response)) return;
  } else if (!conn->keep_alive) {
    self_->close(hdl);
    drop(hdl);
    return;
  }
  if (conn->backlog) {
    auto backlog = std::move(conn->backlog);  // leaves conn->backlog empty for what follows
    process(hdl, *conn, *backlog);
  } else {
    update_deadline(*conn);
  }
}

bool edge_state::respond(handle hdl, connection& conn, const http::response& response) {
  const auto bytes = http::serialize(response, conn.keep_alive);
  conn.caf_writing = true;
  self_->write(hdl, bytes.size(), bytes.data());
  self_->flush(hdl);
  if (conn.keep_alive && self_->wr_buf(hdl).size() > k_max_unread_output) {
    spdlog::debug("edge: closing a connection that leaves its answers unread");
    self_->close(hdl);
    on_closed(hdl);
    return false;
  }
  if (conn.keep_alive) return true;
  self_->close(hdl);  // sends what is buffered first
  drop(hdl);
  return false;
}

void edge_state::on_closed(handle hdl) {
  take_handed_off();  // a grant of this waiter on its way is withdrawn like a held one
  auto i = connections_.find(hdl);
  if (i == connections_.end()) return;
  auto& conn = i->second;
  if (conn.waiter_id != 0) {
    // A hang-up: the waiter is withdrawn and costs no grant, no row and no interval. A held
    // grant is journaled already: it goes back, unwritten, to the bucket that granted it, which
    // gives it to its next waiter at the same due instant.
    if (!writer_->give_back(conn.waiter_id)) {
      if (const auto* gate = gate_of(conn.bot))
        self_->send(*gate, cancel_atom::value, conn.waiter_id, conn.shard);
    }
    end_wait(conn);
    ++counters_.hangups_total;
  }
  drop(hdl);
  write_if_due();  // after the hang-up took its own grant back
  maybe_finish_shutdown();
}

void edge_state::drop(handle hdl) {
  finish_unsent(hdl);  // a grant whose write never completed: its interval starts now at the latest
  auto i = connections_.find(hdl);
  if (i == connections_.end()) return;
  deadlines_.set(i->second.deadline, deadline_kind::none, self_->clock().now());
  connections_.erase(i);
  --counters_.connections;
  if (!accepting_ && !shutting_down_ && connections_.size() < config_.max_connections) {
    accepting_ = true;
    self_->trigger(acceptor_);
  }
}

void edge_state::end_wait(connection& conn) {
  conn.waiter_id = 0;
  --counters_.waiting;
  if (auto found = waiting_.find(conn.bot); found != waiting_.end() && --found->second == 0)
    waiting_.erase(found);
}

edge_state::connection* edge_state::live(handle hdl, std::uint64_t serial) {
  auto i = connections_.find(hdl);
  return i != connections_.end() && i->second.serial == serial ? &i->second : nullptr;
}

caf::result<bool> edge_state::shut_down() {
  auto promise = self_->make_response_promise<bool>();
  if (!shutting_down_) {
    shutting_down_ = true;
    self_->close(acceptor_);
    accepting_ = false;
    if (counters_.active) {
      for (const auto& [key, gate] : config_.bots->gates) self_->send(gate, shutdown_atom::value);
      if (config_.bots->ledger) self_->send(config_.bots->ledger, shutdown_atom::value);
    }
    self_->delayed_send(self_, k_shutdown_grace, shutdown_timeout_atom::value);
    writer_->stop();
  }
  if (shutdown_promise_) shutdown_promise_->deliver(false);  // superseded by this request
  shutdown_promise_ = promise;
  maybe_finish_shutdown();
  return promise;
}

void edge_state::maybe_finish_shutdown() {
  if (shutdown_promise_ && counters_.waiting == 0) force_finish_shutdown();
}

void edge_state::force_finish_shutdown() {
  if (!shutdown_promise_) return;
  shutdown_promise_->deliver(counters_.waiting == 0);
  shutdown_promise_.reset();
}

caf::behavior http_edge(caf::io::stateful_broker<edge_state>* self, http_edge_config config) {
  self->state.init(std::move(config));
  return {
      [self](listen_atom, const std::string& host, std::uint16_t port) {
        return self->state.listen(host, port);
      },
      [self](const caf::io::new_connection_msg& msg) { self->state.on_accept(msg.handle); },
      [self](const caf::io::new_data_msg& msg) { self->state.on_data(msg.handle, msg.buf); },
      [self](const caf::io::connection_closed_msg& msg) { self->state.on_closed(msg.handle); },
      [self](const caf::io::data_transferred_msg& msg) {
        self->state.on_transferred(msg.handle, msg.remaining);
      },
      [](const caf::io::acceptor_closed_msg&) {},
      [self](shutdown_atom) { return self->state.shut_down(); },
      [self](shutdown_timeout_atom) { self->state.force_finish_shutdown(); },
      [self](grant_timer_atom) { self->state.on_grant_timer(); },
      [self](report_timer_atom) { self->state.on_report_timer(); },
      [self](deadline_atom, bool periodic) { self->state.on_deadline_sweep(periodic); },
      [self](roster_atom, bot_roster_ptr bots) { self->state.change_bots(std::move(bots)); },
      [self](activate_atom, bot_roster_ptr bots, archive_actor archive) {
        self->state.activate(std::move(bots), std::move(archive));
      },
      [self](standby_atom) { self->state.stand_by(); },
  };
}

}  // namespace gq
