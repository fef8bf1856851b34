#pragma once
// The read side of the SQLite journal: history queries and retention pruning, on a connection of
// their own so that neither ever holds the writer (the grant path) for long. Part of
// sqlite_journal; `gateway-queue history` also uses it alone, on a journal no server may be
// running on.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/journal.hpp"

namespace gq::storage {

class sqlite_journal;

// Thread-safe: calls from several threads (HTTP handlers) take turns on the one connection.
class history {
 public:
  // Opens an existing journal for reading and pruning. Throws journal_error when the file does
  // not exist, is not a journal, or has a schema newer than this build knows.
  // The schema must be exactly sqlite_journal::k_schema_version: an older file is migrated by
  // opening it as a journal (the server does so at start), never by this reader. Every query is
  // prepared here, so the first GET /history costs what later ones do.
  explicit history(const std::string& path);
  ~history();
  history(history&&) noexcept;
  history& operator=(history&&) noexcept;

  // Grants matching the filter, newest first (ties by id, newest first). Throws journal_error
  // for a filter that history_filter_problem() objects to.
  std::vector<release_record> query(const history_filter& filter);

 private:
  // The journal's history() and prune_before(), which check their arguments (storage/journal.hpp)
  // before they get here.
  friend class sqlite_journal;
  // query() without the filter's check.
  std::vector<release_record> read(const history_filter& filter);
  // Deletes grants released before `cutoff`, at most `batch` (> 0) rows in one transaction.
  // Returns the number of rows deleted.
  std::uint64_t prune_before(unix_ms cutoff, std::uint32_t batch);

  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace gq::storage
