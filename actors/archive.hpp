#pragma once
// The archive: the read side of the journal (GET /history) and its retention. It has a SQLite
// connection of its own, so neither a large history query nor pruning waits in the ledger's
// mailbox or holds the writer for long: pruning deletes in small batches, one message each.

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "actors/messages.hpp"
#include "actors/pacing/clock_anchor.hpp"
#include "storage/history.hpp"

namespace gq {

// The default of QUEUE_RETENTION_DAYS: journal rows older than this are pruned.
inline constexpr std::chrono::days k_default_retention{30};
// How often the archive looks for rows past the retention.
inline constexpr std::chrono::minutes k_prune_interval{60};
// Rows deleted per pruning transaction: each holds the journal's write lock, so keep it short.
inline constexpr std::uint32_t k_prune_batch = 1000;

// storage::history_filter as a message: absent values use sentinels.
struct history_query {
  std::uint64_t shard = k_no_shard;
  unix_ms since = -1;
  unix_ms until = -1;
  std::uint32_t limit = storage::history_filter::k_default_limit;

  static history_query from(const storage::history_filter& filter);
  storage::history_filter to_filter() const;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_query& x) {
  return f(caf::meta::type_name("history_query"), x.shard, x.since, x.until, x.limit);
}

using archive_actor = caf::typed_actor<
    // The body of GET /history: {"releases": [...]}, newest first.
    caf::replies_to<history_atom, history_query>::with<std::string>, caf::reacts_to<prune_atom>>;

struct archive_config {
  std::string db_path;
  std::chrono::hours retention = k_default_retention;
  std::chrono::minutes prune_every = k_prune_interval;
  clock_anchor anchor;
};

struct archive_state {
  static constexpr const char* name = "archive";

  std::unique_ptr<storage::history> history;
  archive_config config;
};

// Opens the journal for reading (throws storage::journal_error) and spawns the archive.
// `detached` gives it a thread of its own, which production wants since its queries block on
// SQLite; tests under CAF's test coordinator pass false.
archive_actor spawn_archive(caf::actor_system& system, archive_config config, bool detached);

}  // namespace gq
