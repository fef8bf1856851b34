#pragma once
// The journal in one SQLite file (the default backend). Format: docs/JOURNAL.md.
//
// Two connections: the writer (grants, limits, recovery; the ledger's thread) and the reader
// (history, retention; storage/sqlite/history.hpp), so that neither a large history query nor a
// prune batch waits for a grant's fsync, and recovery reads never take the write lock. In WAL
// mode the one file serves both.

#include <memory>
#include <string>

#include "storage/journal.hpp"

namespace gq::storage {

class history;

class sqlite_journal final : public journal {
 public:
  // Current on-disk schema version; older files are migrated on open.
  static constexpr int k_schema_version = 5;

  // Opens `path`, creating it when it does not exist, and migrates older schemas (after a full
  // integrity check, whatever `check` says: a file is only ever written once it is verified).
  // With integrity_check::deferred a file already of this version and in WAL mode is opened
  // with cheap checks only (SQLite header, schema version, our tables) and nothing is written
  // until verify() passes. Throws journal_error as open_journal says.
  explicit sqlite_journal(const std::string& path, durability mode = durability::full,
                          integrity_check check = integrity_check::at_open);
  ~sqlite_journal() override;

 private:
  struct writer;

  void do_record_releases(std::span<const release_record> records,
                          std::span<const release_reattribution> reattributions,
                          std::span<const release_outcome> outcomes) override;
  void do_record_limits(const session_limits& limits, std::string_view bot) override;
  recovery_state do_recover(std::string_view bot) override;
  std::uint64_t do_count_releases_since(unix_ms since, std::string_view bot) override;
  std::vector<shard_grant> do_shard_grants_since(unix_ms since, std::string_view bot) override;
  std::vector<reported_invalid_session> do_invalid_sessions_since(unix_ms since,
                                                                  std::string_view bot) override;
  std::vector<release_record> do_history(const history_filter& filter) override;
  std::uint64_t do_prune_before(unix_ms cutoff, std::uint32_t batch) override;
  // PRAGMA quick_check on a connection of its own, then the schema-version write of a migration
  // (BEGIN IMMEDIATE ... COMMIT) to prove the file writable.
  void do_verify() override;
  int do_schema_version() override;

  std::unique_ptr<writer> writer_;
  std::unique_ptr<storage::history> reader_;
};

}  // namespace gq::storage
