#pragma once
// The archive: the read side of the journal (GET /history) and its retention. The journal serves
// its calls on a connection of their own (storage/journal.hpp), so neither a large history query
// nor pruning waits in the ledger's mailbox or holds the writer for long: pruning deletes in
// small batches, one message each. It answers with records; the HTTP side renders them.

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/result.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "actors/messages.hpp"
#include "src/pacing/clock_anchor.hpp"
#include "storage/journal.hpp"

namespace gq {

// The default of QUEUE_RETENTION_DAYS: journal rows older than this are pruned.
inline constexpr std::chrono::days k_default_retention{30};
// How often the archive looks for rows past the retention.
inline constexpr std::chrono::minutes k_prune_interval{60};
// Rows deleted per pruning transaction: each holds the journal's write lock, so keep it short.
inline constexpr std::uint32_t k_prune_batch = 1000;

// history_filter as a message: absent times use sentinels.
struct history_query {
  shard_id shard;
  unix_ms since = -1;
  unix_ms until = -1;
  std::uint32_t limit = history_filter::k_default_limit;
  std::string bot;  // empty: every bot's grants

  static history_query from(const history_filter& filter);
  history_filter to_filter() const;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_query& x) {
  return f(caf::meta::type_name("history_query"), x.shard, x.since, x.until, x.limit,
           x.bot);
}

using archive_actor = caf::typed_actor<
    // The grants GET /history shows, newest first.
    caf::replies_to<history_atom, history_query>::with<std::vector<release_record>>,
    caf::reacts_to<prune_atom>>;

struct archive_config {
  // Shared with the ledger: the archive makes only the reader calls (history, prune_before).
  std::shared_ptr<storage::journal> journal;
  std::chrono::hours retention = k_default_retention;
  std::chrono::minutes prune_every = k_prune_interval;
  clock_anchor anchor;
  // false: retention starts with the first `prune` message instead of at spawn; the server sends
  // it once the journal is verified, since pruning writes.
  bool prune_at_start = true;
};

struct archive_state {
  using pointer = archive_actor::stateful_pointer<archive_state>;

  explicit archive_state(pointer self) : self_(self) {}

  void init(archive_config config);
  caf::result<std::vector<release_record>> history(const history_query& query);
  // Deletes one batch; the next follows at once while there is more, else after prune_every.
  void prune();

  static constexpr const char* name = "archive";

 private:
  pointer self_;
  archive_config config_;
};

// Spawns the archive; production gives it a thread of its own, since its queries block on the
// journal.
archive_actor spawn_archive(caf::actor_system& system, archive_config config, actor_thread thread);

}  // namespace gq
