// The journal's checks (storage/journal.hpp), made here once for every backend before a hook runs.
#include "storage/journal.hpp"

#include "storage/errors.hpp"

namespace gq::storage {

void journal::refuse(std::string_view what, std::string_view reason) const {
  detail::fail(location_, what, reason);
}

void journal::require_verified(std::string_view what) const {
  if (!verified()) refuse(what, "the journal's integrity check has not passed");
}

void journal::record_releases(std::span<const release_record> records,
                              std::span<const release_reattribution> reattributions,
                              std::span<const release_outcome> outcomes) {
  if (records.empty() && reattributions.empty() && outcomes.empty()) return;
  // Checked before anything is written: a batch with one bad record is refused whole. The queue
  // never produces these; recover() relies on them never being stored.
  const auto check = [this](const release_record& record) {
    if (auto problem = release_record_problem(record)) refuse("recording grants", *problem);
  };
  for (const release_record& record : records) check(record);
  for (const release_reattribution& moved : reattributions) {
    check({moved.released_at, moved.shard, moved.bucket, moved.max_concurrency, moved.waited_ms,
           std::nullopt, moved.bot});
  }
  for (const release_outcome& reported : outcomes) {
    if (!valid_bot_name(reported.bot)) refuse("recording outcomes", "bot is not [a-z0-9_-]{1,32}");
  }
  require_verified("recording grants");
  do_record_releases(records, reattributions, outcomes);
}

void journal::record_limits(const session_limits& limits, std::string_view bot) {
  if (limits.max_concurrency == 0) refuse("recording limits", "max_concurrency is 0");
  if (!valid_bot_name(bot)) refuse("recording limits", "bot is not [a-z0-9_-]{1,32}");
  require_verified("recording limits");
  do_record_limits(limits, bot);
}

std::vector<release_record> journal::history(const history_filter& filter) {
  detail::check_history_filter(location_, filter);
  return do_history(filter);
}

std::uint64_t journal::prune_before(unix_ms cutoff, std::uint32_t batch) {
  // A zero batch would delete nothing and return `batch`, looping its caller forever.
  if (batch == 0) refuse("pruning old grants", "batch size is 0");
  require_verified("pruning old grants");
  return do_prune_before(cutoff, batch);
}

void journal::verify() {
  if (verified()) return;
  do_verify();
  mark_verified();
}

}  // namespace gq::storage
