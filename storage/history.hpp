#pragma once
// The read side of the journal: history queries and retention pruning, on a connection of their
// own so that neither ever holds the writer (the grant path) for long.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "storage/journal.hpp"

namespace gq::storage {

struct history_filter {
  static constexpr std::uint32_t k_default_limit = 100;
  static constexpr std::uint32_t k_max_limit = 10000;

  std::optional<std::uint64_t> shard;
  std::optional<unix_ms> since;  // inclusive
  std::optional<unix_ms> until;  // inclusive
  // At most this many rows; above k_max_limit counts as k_max_limit, 0 yields no rows.
  std::uint32_t limit = k_default_limit;
};

// Thread-safe: calls from several threads (HTTP handlers) take turns on the one connection.
class history {
 public:
  // Opens an existing journal for reading and pruning. Throws journal_error when the file does
  // not exist, is not a journal, or has a schema newer than this build knows.
  // The schema must be exactly journal::k_schema_version: an older file is migrated by opening
  // it as a journal (the server does so at start), never by this reader.
  explicit history(const std::string& path);
  ~history();
  history(history&&) noexcept;
  history& operator=(history&&) noexcept;

  // Grants matching the filter, newest first (ties by id, newest first).
  std::vector<release_record> query(const history_filter& filter);

  // Deletes grants released before `cutoff`, at most `batch` rows per transaction so that the
  // writer is never blocked for long. Returns the number of rows deleted by this call; call
  // again while it returns `batch`. Throws journal_error, also for batch == 0.
  std::uint64_t prune_before(unix_ms cutoff, std::uint32_t batch = 1000);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// {"releases": [{"released_at", "shard", "bucket", "max_concurrency", "waited_ms"}, ...]}
// with "shard": null when the grant carried none. The format of GET /history and of
// `gateway-queue history`.
nlohmann::json releases_to_json(const std::vector<release_record>& releases);

}  // namespace gq::storage
