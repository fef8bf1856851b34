#include "actors/archive.hpp"

#include <spdlog/spdlog.h>

#include <caf/all.hpp>

namespace gq {

history_query history_query::from(const history_filter& filter) {
  history_query query;
  if (filter.shard) query.shard = *filter.shard;
  if (filter.since) query.since = *filter.since;
  if (filter.until) query.until = *filter.until;
  query.limit = filter.limit;
  return query;
}

history_filter history_query::to_filter() const {
  history_filter filter;
  if (shard != k_no_shard) filter.shard = shard;
  if (since >= 0) filter.since = since;
  if (until >= 0) filter.until = until;
  filter.limit = limit;
  return filter;
}

namespace {

using archive_pointer = archive_actor::stateful_pointer<archive_state>;

// Deletes one batch; schedules the next at once while there is more, else in an hour.
void prune_batch(archive_pointer self) {
  auto& st = self->state;
  const auto now = st.config.anchor.to_unix(self->clock().now());
  const auto cutoff =
      now - std::chrono::duration_cast<std::chrono::milliseconds>(st.config.retention).count();
  std::uint64_t deleted = 0;
  try {
    deleted = st.config.journal->prune_before(cutoff, k_prune_batch);
  } catch (const storage::journal_error& e) {
    spdlog::error("retention: pruning failed, will retry: {}", e.what());
  }
  if (deleted > 0) spdlog::debug("retention: pruned {} grants older than {}", deleted, cutoff);
  if (deleted == k_prune_batch)
    self->send(self, prune_atom::value);  // behind any history query already waiting
  else
    self->delayed_send(self, st.config.prune_every, prune_atom::value);
}

archive_actor::behavior_type archive(archive_pointer self, archive_config config) {
  self->state.config = std::move(config);
  if (self->state.config.prune_at_start) self->send(self, prune_atom::value);
  return {
      [self](history_atom, const history_query& query) -> caf::result<std::vector<release_record>> {
        try {
          return self->state.config.journal->history(query.to_filter());
        } catch (const storage::journal_error& e) {
          spdlog::error("history: query failed: {}", e.what());
          return caf::make_error(caf::sec::runtime_error, "history query failed");
        }
      },
      [self](prune_atom) { prune_batch(self); },
  };
}

}  // namespace

archive_actor spawn_archive(caf::actor_system& system, archive_config config, bool detached) {
  if (detached) return system.spawn<caf::detached>(archive, std::move(config));
  return system.spawn(archive, std::move(config));
}

}  // namespace gq
