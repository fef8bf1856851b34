#pragma once
// One term of this process as the journal's writer: the actors that pace and journal grants (the
// ledger, the archive, and per bot a gate with its buckets and, with a Discord token, a limits
// scheduler), spawned on a journal this process holds and stopped when it stops or loses that
// journal. A reload changes the bots of a running term without touching the bots it keeps.
//
// A SQLite journal is held for the life of the process: one term. A PostgreSQL journal is held
// by a database session, which can end (a network cut, a database restart) while the process
// lives; every time the process wins the journal again a new term starts and reads the journal
// afresh, since another queue may have granted meanwhile (docs/RELIABILITY.md, "Running two or
// more").

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/archive.hpp"
#include "actors/bot_roster.hpp"
#include "actors/gate.hpp"
#include "actors/grant_handoff.hpp"
#include "actors/ledger.hpp"
#include "actors/limits_scheduler.hpp"
#include "src/app/bot_definition.hpp"
#include "src/app/config.hpp"
#include "src/app/stop_signal.hpp"
#include "src/pacing/clock_anchor.hpp"
#include "storage/journal.hpp"

namespace gq {

class active_term {
 public:
  // Reads the journal (throws storage::journal_error) and spawns the actors: each bot's buckets
  // resume an interval (plus k_recovery_margin) after their last journaled grant and its daily
  // window continues from the journal. `on_lost` (empty for a journal that cannot be lost:
  // SQLite) is called once, from another thread, if the journal's writer loses it; `stop` ends
  // the process on a fatal condition (the token of the variables' bot rejected at start, a
  // damaged journal).
  active_term(caf::actor_system& system, const server_config& config, clock_anchor anchor,
              std::shared_ptr<storage::journal> journal, std::shared_ptr<grant_handoff> handoff,
              stop_signal& stop, std::function<void()> on_lost,
              const std::vector<bot_definition>& bots);
  // Stops the actors. Their waiters are answered by the edge before (stand_by) or by the gates
  // (shut_down).
  ~active_term();
  active_term(const active_term&) = delete;
  active_term& operator=(const active_term&) = delete;
  // Runs the journal's deferred integrity check on the calling thread while the actors serve,
  // then lets the ledger grant; a damaged journal stops the process with exit code 1.
  void verify();
  // The bots as the edge routes to them.
  bot_roster_ptr roster() const { return roster_; }
  const archive_actor& archive() const { return archive_; }

  // Makes the running bots these: bots added start, bots gone stop (their gates answer their
  // waiters 503), bots whose settings changed get them; a bot whose settings are unchanged is
  // not touched. Returns the new roster, for the edge.
  bot_roster_ptr reload(const std::vector<bot_definition>& bots);

 private:
  struct running_bot {
    bot_key key = 0;
    bot_definition definition;
    gate_actor gate;
  };

  void start_bot(const bot_definition& bot);
  // With a Discord token: its limits are read by the term's limits scheduler (started with the
  // first such bot).
  void start_scheduler(const running_bot& running);
  void stop_bot(running_bot& bot);
  void rebuild_roster();
  void stop_actors();

  caf::actor_system& system_;
  const server_config& config_;
  clock_anchor anchor_;
  std::shared_ptr<storage::journal> journal_;
  std::shared_ptr<grant_handoff> handoff_;
  stop_signal& stop_;
  // The variables' bot (no bots file): Discord rejecting its token at start stops the process.
  bool single_bot_;
  caf::scoped_actor self_;
  ledger_actor ledger_;
  archive_actor archive_;
  limits_scheduler_actor scheduler_;
  std::map<std::string, running_bot> bots_;  // by name
  bot_key next_key_ = 0;
  bot_roster_ptr roster_;
};

}  // namespace gq
