// The ledger's hold on the journal: a PostgreSQL writer session is proven between commits, and
// once the journal says it is lost the ledger grants nothing more and tells main.
// (The rest of ledger_state: ledger.cpp, ledger_past_the_gate.cpp, ledger_status.cpp.)
#include <spdlog/spdlog.h>

#include <caf/all.hpp>

#include "actors/ledger.hpp"

namespace gq {

// A round trip on the writer's session between commits: a session ended by the database (a
// network cut, a restart, an operator) is seen within writer_check_interval, not at the next
// grant, so /ready turns 503 and waiters go to the queue that takes over.
void ledger_state::confirm_writer() {
  if (writer_lost_ || shutting_down_) return;
  try {
    journal_->confirm_writer();
  } catch (const storage::journal_error& e) {
    spdlog::warn("journal: the writer's check failed: {}", e.what());
    check_writer_lost();
  }
  if (!writer_lost_) self_->delayed_send(self_, config_.writer_check_interval, confirm_atom::value);
}

void ledger_state::check_writer_lost() {
  if (writer_lost_ || !journal_->writer_lost()) return;
  writer_lost_ = true;
  spdlog::error(
      "journal: this process is no longer the journal's writer (its database session "
      "ended, and the lock with it): granting nothing");
  for (auto& [key, bot] : bots_) {
    for (auto& permit : bot.held) permit.promise.deliver(verdict::of(verdict_kind::unavailable));
    bot.held.clear();
  }
  if (config_.on_writer_lost) config_.on_writer_lost();
}

}  // namespace gq
