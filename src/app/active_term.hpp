#pragma once
// One term of this process as the journal's writer: the actors that pace and journal grants (the
// ledger, the gate with its buckets, the archive and, with a token, the limits scheduler),
// spawned on a journal this process holds and stopped when it stops or loses that journal.
//
// A SQLite journal is held for the life of the process: one term. A PostgreSQL journal is held
// by a database session, which can end (a network cut, a database restart) while the process
// lives; every time the process wins the journal again a new term starts and reads the journal
// afresh, since another queue may have granted meanwhile (docs/RELIABILITY.md, "Running two or
// more").

#include <caf/actor_system.hpp>
#include <functional>
#include <memory>

#include "actors/archive.hpp"
#include "actors/gate.hpp"
#include "actors/grant_handoff.hpp"
#include "actors/ledger.hpp"
#include "actors/limits_scheduler.hpp"
#include "src/app/config.hpp"
#include "src/app/stop_signal.hpp"
#include "src/pacing/clock_anchor.hpp"
#include "storage/journal.hpp"

namespace gq {

class active_term {
 public:
  // Reads the journal (throws storage::journal_error) and spawns the actors: each bucket resumes
  // an interval (plus k_recovery_margin) after its last journaled grant and the daily window
  // continues from the journal. `on_lost` (empty for a journal that cannot be lost: SQLite) is
  // called once, from another thread, if the journal's writer loses it; `stop` ends the process on
  // a fatal condition (the token rejected at start, a damaged journal).
  active_term(caf::actor_system& system, const server_config& config, clock_anchor anchor,
              std::shared_ptr<storage::journal> journal, std::shared_ptr<grant_handoff> handoff,
              stop_signal& stop, std::function<void()> on_lost);
  // Stops the actors. Their waiters are answered by the edge before (stand_by) or by the gate
  // (shut_down).
  ~active_term();
  active_term(const active_term&) = delete;
  active_term& operator=(const active_term&) = delete;

  // Runs the journal's deferred integrity check on the calling thread while the actors serve,
  // then lets the ledger grant; a damaged journal stops the process with exit code 1.
  void verify();

  const gate_actor& gate() const { return gate_; }
  const archive_actor& archive() const { return archive_; }

 private:
  std::shared_ptr<storage::journal> journal_;
  stop_signal& stop_;
  ledger_actor ledger_;
  gate_actor gate_;
  archive_actor archive_;
  limits_scheduler_actor scheduler_;
};

}  // namespace gq
