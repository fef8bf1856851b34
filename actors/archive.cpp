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
  if (filter.bot) query.bot = *filter.bot;
  return query;
}

history_filter history_query::to_filter() const {
  history_filter filter;
  if (shard) filter.shard = *shard;
  if (since >= 0) filter.since = since;
  if (until >= 0) filter.until = until;
  filter.limit = limit;
  if (!bot.empty()) filter.bot = bot;
  return filter;
}

void archive_state::init(archive_config config) {
  config_ = std::move(config);
  if (config_.prune_at_start) self_->send(self_, prune_atom::value);
}

caf::result<std::vector<release_record>> archive_state::history(const history_query& query) {
  try {
    return config_.journal->history(query.to_filter());
  } catch (const storage::journal_error& e) {
    spdlog::error("history: query failed: {}", e.what());
    return caf::make_error(caf::sec::runtime_error, "history query failed");
  }
}

void archive_state::prune() {
  const auto now = config_.anchor.to_unix(self_->clock().now());
  const auto cutoff =
      now - std::chrono::duration_cast<std::chrono::milliseconds>(config_.retention).count();
  std::uint64_t deleted = 0;
  try {
    deleted = config_.journal->prune_before(cutoff, k_prune_batch);
  } catch (const storage::journal_error& e) {
    spdlog::error("retention: pruning failed, will retry: {}", e.what());
  }
  if (deleted > 0) spdlog::debug("retention: pruned {} grants older than {}", deleted, cutoff);
  if (deleted == k_prune_batch)
    self_->send(self_, prune_atom::value);  // behind any history query already waiting
  else
    self_->delayed_send(self_, config_.prune_every, prune_atom::value);
}

namespace {

archive_actor::behavior_type archive(archive_state::pointer self, archive_config config) {
  self->state.init(std::move(config));
  return {
      [self](history_atom, const history_query& query) { return self->state.history(query); },
      [self](prune_atom) { self->state.prune(); },
  };
}

}  // namespace

archive_actor spawn_archive(caf::actor_system& system, archive_config config, actor_thread thread) {
  if (thread == actor_thread::own) return system.spawn<caf::detached>(archive, std::move(config));
  return system.spawn(archive, std::move(config));
}

}  // namespace gq
