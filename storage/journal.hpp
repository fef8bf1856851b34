#pragma once
// The schedule journal: every grant is committed here before its 200 is sent, so a restarted
// queue still honours the identify interval and the daily budget. Format: docs/JOURNAL.md.
//
// Single writer: one journal object per process, used from one thread (the ledger actor).
// Readers (history, retention) use their own connection: see storage/history.hpp.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/records.hpp"

namespace gq::storage {

// Every failure to open, read or write the journal. The message names the file and SQLite's
// reason; it never contains secrets because nothing secret is ever stored.
class journal_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How hard a commit tries to reach the disk.
enum class durability {
  // WAL + synchronous=FULL: a committed grant survives a process crash and a power loss.
  full,
  // WAL + synchronous=NORMAL: survives a process crash (kill -9), may lose the last commits on
  // power loss. Only for benchmarks and tests that measure something else.
  normal,
};

// What a restart needs to continue pacing where the previous process stopped.
struct recovery_state {
  std::optional<session_limits> limits;  // newest journaled limits, if any
  // The newest grant of all, and the max_concurrency it was made under.
  std::optional<unix_ms> last_release_at;
  std::uint32_t last_max_concurrency = 0;
  // Newest grant per bucket among the grants made under last_max_concurrency;
  // index = bucket, nullopt = no grant journaled for that bucket.
  std::vector<std::optional<unix_ms>> last_release_by_bucket;
};

class journal {
 public:
  // Current on-disk schema version; older files are migrated on open.
  static constexpr int k_schema_version = 2;

  // Opens `path`, creating it when it does not exist, and migrates older schemas.
  // Throws journal_error when the file cannot be opened, is not a SQLite database, is corrupt,
  // is from a newer version, or is read-only. It never replaces an unreadable file.
  explicit journal(const std::string& path, durability mode = durability::full);
  ~journal();
  journal(journal&&) noexcept;
  journal& operator=(journal&&) noexcept;

  // Commits all records in one transaction (one fsync). Throws journal_error; on throw nothing
  // of this call was committed and the journal stays usable for the next call. Records the
  // queue cannot produce (max_concurrency 0, bucket >= max_concurrency, shard >= 2^63) are
  // refused with journal_error before anything is written.
  void record_releases(std::span<const release_record> records);

  // As above, and in the same transaction re-attributes earlier rows (see
  // release_reattribution): the newest row with that released_at, bucket and max_concurrency
  // takes the new shard and wait; none matching is not an error (the row was pruned). Adds no
  // row, so the daily budget counts each grant once.
  void record_releases(std::span<const release_record> records,
                       std::span<const release_reattribution> reattributions);

  // Journals limits as fetched from Discord or taken from the configuration. Throws
  // journal_error, also for max_concurrency 0.
  void record_limits(const session_limits& limits);

  // Reads what a restart needs (see recovery_state).
  recovery_state recover();

  // Number of grants with released_at >= since.
  std::uint64_t count_releases_since(unix_ms since);

  int schema_version();
  const std::string& path() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace gq::storage
