// The HTTP edge's role: the active queue's edge sends waiters to its gate; a standby's (another
// process holds the journal, or this one lost it) answers them 503 with Retry-After: 1. Main
// switches it (activate_atom, standby_atom) as this process wins and loses the journal.
// (The rest of edge_state: http_edge.cpp, http_edge_grants.cpp, http_edge_answers.cpp.)
#include <spdlog/spdlog.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/http_edge.hpp"

namespace gq {

namespace {

constexpr std::string_view k_bot_removed_message = "this bot is no longer served by this queue";

}  // namespace

void edge_state::activate(bot_roster_ptr bots, archive_actor archive) {
  config_.bots = std::move(bots);
  config_.archive = std::move(archive);
  counters_.active = true;
}

void edge_state::change_bots(bot_roster_ptr bots) {
  config_.bots = std::move(bots);
  if (!counters_.active) return;
  std::vector<std::pair<handle, std::uint64_t>> orphans;
  for (auto& [hdl, conn] : connections_) {
    if (conn.waiter_id != 0 && !gate_of(conn.bot)) orphans.emplace_back(hdl, conn.serial);
  }
  // Their gates are stopped by main; a grant of theirs held here is not written (it stays
  // journaled and counted, like any grant whose client left).
  for (const auto& [hdl, serial] : orphans) {
    if (auto* conn = live(hdl, serial); conn && conn->waiter_id != 0) {
      writer_->give_back(conn->waiter_id);
      refuse_waiter(hdl, *conn, rejection::shutdown, k_bot_removed_message);
    }
  }
  if (!orphans.empty())
    spdlog::info("edge: {} waiter(s) of removed bots answered 503", orphans.size());
}

void edge_state::stand_by() {
  if (!counters_.active) return;
  counters_.active = false;
  // Another queue may take the journal from now on and grant in these buckets: a grant held here
  // (journaled, not yet written) must never leave, however close to due.
  take_handed_off();
  writer_->abandon();
  std::vector<std::pair<handle, std::uint64_t>> waiters;
  for (auto& [hdl, conn] : connections_) {
    if (conn.waiter_id != 0) waiters.emplace_back(hdl, conn.serial);
  }
  // Answering may process bytes that arrived meanwhile (and drop connections): look each up.
  for (const auto& [hdl, serial] : waiters) {
    if (auto* conn = live(hdl, serial); conn && conn->waiter_id != 0)
      refuse_waiter(hdl, *conn, rejection::standby, http::k_standby_message);
  }
  // The term's actors are stopped by main; nothing more goes to them. The bots stay known.
  auto known = std::make_shared<bot_roster>();
  known->directory = config_.bots->directory;
  config_.bots = std::move(known);
  config_.archive = nullptr;
  spdlog::info("edge: standby, {} waiter(s) answered 503", waiters.size());
  maybe_finish_shutdown();
}

void edge_state::refuse_waiter(handle hdl, connection& conn, rejection reason,
                               std::string_view message) {
  counters_.count(reason);
  end_wait(conn);
  finish_async(hdl, conn.serial, http::retry_soon(message));
}

}  // namespace gq
