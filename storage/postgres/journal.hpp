#pragma once
// The journal in a PostgreSQL database, chosen by a QUEUE_DB of "postgresql://..." (any libpq
// connection URI). Same promises as the SQLite journal; format and differences: docs/JOURNAL.md,
// "PostgreSQL".
//
// Connections: the writer (grants, limits, recovery; the ledger's thread), the reader (history
// and retention, behind a mutex; the archive's thread), and one made by verify() for its own
// check. The writer runs with synchronous_commit = on (durability::full), so a COMMIT returns
// only once the server has flushed the grant to its WAL, before any 200 is sent. The writer
// connection holds the session-level advisory lock of "one active queue per database".

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "storage/journal.hpp"

namespace gq::storage {

namespace postgres {

class connection;

// The session advisory lock key of "one writer per journal" (pg_try_advisory_lock): one
// journal per database, so one fixed key. The bytes spell "gq-jrnl".
inline constexpr std::int64_t k_journal_lock = 0x67712d6a726e6c;

}  // namespace postgres

class postgres_journal final : public journal {
 public:
  // Connects twice to `uri`, creates the schema in a database that has none of our tables, and
  // migrates an older one. With integrity_check::deferred a database already at the current
  // version is opened with reads only and nothing is written until verify() passes. Throws
  // journal_error (server unreachable, authentication, not a journal, newer schema, read-only).
  // An exclusive journal (journal_options::exclusive) is opened by postgres_claim, whose session
  // holds the journal's advisory lock (postgres::k_journal_lock) from before the schema is read.
  explicit postgres_journal(const std::string& uri, durability mode = durability::full,
                            integrity_check check = integrity_check::at_open);
  // As above, with `writer` as the writer connection: a connection to `uri`, holding the
  // journal's lock when the journal is exclusive (postgres_claim's session).
  postgres_journal(const std::string& uri, std::unique_ptr<postgres::connection> writer,
                   durability mode, integrity_check check);
  ~postgres_journal() override;

 private:
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
  // The server guarantees its pages (WAL, checksums when enabled): verify checks, on a
  // connection of its own, that every column the journal uses is there and proves the database
  // writable by writing the schema version (a hot standby or a read-only user fails here).
  void do_verify() override;
  int do_schema_version() override;
  // A round trip on the writer session (exclusive: the one holding the lock).
  void do_confirm_writer() override;
  bool do_writer_lost() const override;

  std::string uri_;  // with the password, for verify()'s connection; never shown
  std::unique_ptr<postgres::connection> writer_;
  std::mutex reader_mutex_;
  std::unique_ptr<postgres::connection> reader_;
};

// journal_claim for PostgreSQL (claim_journal, storage/journal.hpp): one session that tries the
// journal's lock on each try_open() and, once it wins, is the new journal's writer.
class postgres_claim final : public journal_claim {
 public:
  postgres_claim(std::string uri, journal_options options);
  ~postgres_claim() override;
  std::unique_ptr<journal> try_open() override;

 private:
  std::string uri_;  // with the password; never shown
  journal_options options_;
  std::unique_ptr<postgres::connection> session_;
};

}  // namespace gq::storage
