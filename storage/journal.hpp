#pragma once
// The schedule journal, as the queue sees it: every grant is committed here before its 200 is
// sent, so a restarted queue still honours the identify interval and the daily budget; the same
// journal answers GET /history and forgets grants past retention. This is the one interface the
// ledger and the archive use; a backend (storage/sqlite/journal.hpp, the default) implements it.
// It stores and returns records (src/core/records.hpp) and renders nothing.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/core/records.hpp"

namespace gq::storage {

// Every failure to open, check, read or write the journal. The message names the journal and the
// backend's reason; it never contains a secret (a PostgreSQL password is removed).
class journal_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// open with journal_options::exclusive found the journal held by another process: the active
// queue. A standby tries again; nothing was read or written.
class journal_taken : public journal_error {
 public:
  using journal_error::journal_error;
};

// How hard a commit tries to reach the disk.
enum class durability {
  // A committed grant survives a process crash and a power loss (SQLite: synchronous=FULL).
  full,
  // Survives a process crash (kill -9), may lose the last commits on power loss. Only for
  // benchmarks and tests that measure something else.
  normal,
};

// When the journal's full integrity check runs.
enum class integrity_check {
  // Before open returns: open throws for a damaged journal. For tools and tests.
  at_open,
  // Later, by verify(), so that a large journal does not delay start-up. Until verify() has
  // passed the journal refuses every write (journal_error), hence every grant; reads (recover,
  // history) work. What open still checks at once, and why this keeps a damaged journal from
  // ever granting: docs/JOURNAL.md, "Opening fails closed". The server's choice.
  deferred,
};

struct journal_options {
  durability mode = durability::full;
  integrity_check check = integrity_check::at_open;
  // The server's: this process is the journal's one writer, and open refuses (journal_taken)
  // while another holds it. PostgreSQL: a session advisory lock on the writer connection, taken
  // before anything is read or migrated, held for as long as that session lives. A write
  // without it is refused, and a session once lost is never replaced: a process that
  // lost its session cannot commit a grant through this journal again, even after the database
  // comes back, because another queue may have granted meanwhile. It must open the journal anew
  // (and read it again with recover()).
  // A SQLite file: the server's file lock does this (src/app/journal_lock.hpp), not the journal.
  // Readers such as `gateway-queue history` leave it false and open beside a running server.
  bool exclusive = false;
};

// Threads: the writer calls (record_*, recover, count_releases_since) come from one thread at a
// time (the ledger's). history and prune_before may come from one other thread (the archive's)
// at the same time and never wait for a writer call to finish (they use a connection of their
// own). verify may run on a third thread meanwhile.
//
// A backend (storage/sqlite/journal.hpp, storage/postgres/journal.hpp) implements the private
// do_* hooks; the public calls below check their arguments and the verified state first, once
// for every backend (storage/journal.cpp), so a hook only ever sees what it may write.
class journal {
 public:
  virtual ~journal() = default;
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  // Commits all records in one transaction (one fsync), and in the same transaction re-attributes
  // earlier rows (see release_reattribution): the newest row with that bot, released_at, bucket
  // and max_concurrency takes the new shard and wait; none matching is not an error (the row was
  // pruned). A re-attribution adds no row, so the daily budget counts each grant once. Throws
  // journal_error; on throw nothing of this call was committed and the journal stays usable for
  // the next call. Records the queue cannot produce (max_concurrency 0, bucket >=
  // max_concurrency, shard > k_max_stored_integer) are refused with journal_error before
  // anything is written, and so are bot names valid_bot_name() refuses. Also refused until
  // verified(). Several bots' grants may share one call: each row carries its bot.
  // `outcomes` are shards' reports, each written on its grant's row (found as a re-attribution
  // finds it; none matching is not an error), replacing an earlier report of that grant.
  void record_releases(std::span<const release_record> records,
                       std::span<const release_reattribution> reattributions,
                       std::span<const release_outcome> outcomes);
  void record_releases(std::span<const release_record> records,
                       std::span<const release_reattribution> reattributions) {
    record_releases(records, reattributions, {});
  }
  void record_releases(std::span<const release_record> records) {
    record_releases(records, {}, {});
  }

  // Journals a bot's limits as fetched from Discord or taken from the configuration. Throws
  // journal_error, also for max_concurrency 0, a bot name valid_bot_name() refuses and until
  // verified().
  void record_limits(const session_limits& limits, std::string_view bot = k_default_bot);

  // The reads below are each about one bot: every other bot's rows are as if absent. Rows
  // journaled before bots existed (schema version 4 and older) belong to k_default_bot.

  // Reads what a restart needs (see recovery_state) from one consistent state of the journal.
  // Its cost does not grow with the number of grants journaled (indexed reads only).
  recovery_state recover(std::string_view bot = k_default_bot) { return do_recover(bot); }

  // Number of grants with released_at >= since.
  std::uint64_t count_releases_since(unix_ms since, std::string_view bot = k_default_bot) {
    return do_count_releases_since(since, bot);
  }

  // The grants that named a shard with released_at >= since, oldest first: the loop guard's
  // count and the grants outcome reports are about, after a restart (an hour's grants).
  std::vector<shard_grant> shard_grants_since(unix_ms since, std::string_view bot = k_default_bot) {
    return do_shard_grants_since(since, bot);
  }

  // The Invalid Sessions reported at or after `since`, oldest report first: a restart widens
  // the buckets again from them.
  std::vector<reported_invalid_session> invalid_sessions_since(
      unix_ms since, std::string_view bot = k_default_bot) {
    return do_invalid_sessions_since(since, bot);
  }

  // Grants matching the filter (filter.bot: one bot's, else every bot's), newest first (ties: the
  // later journaled first). A filter that
  // history_filter_problem() objects to is refused with journal_error.
  std::vector<release_record> history(const history_filter& filter);

  // Deletes grants released before `cutoff`, at most `batch` rows per transaction so that the
  // writer is never blocked for long. Returns the number of rows deleted by this call; call
  // again while it returns `batch`. Throws journal_error, also for batch == 0 and until
  // verified().
  std::uint64_t prune_before(unix_ms cutoff, std::uint32_t batch);

  // Runs the full integrity check that integrity_check::deferred postponed, then proves the
  // journal writable; afterwards writes are allowed. Returns at once when it already passed.
  // Throws journal_error naming the damage; the journal is then left as it was found and every
  // write stays refused. May take time proportional to the journal's size.
  void verify();
  bool verified() const { return verified_.load(std::memory_order_acquire); }

  // Proves that this journal's writer still holds it (journal_options::exclusive): for
  // PostgreSQL a round trip on the writer session, whose life is the lock's. Throws
  // journal_error when the round trip fails; writer_lost() tells whether the lock went with it.
  // Nothing to prove for SQLite (the server's file lock lasts as long as the process).
  void confirm_writer() { do_confirm_writer(); }
  // True for good once the exclusive writer's session has ended: every write is refused from
  // then on; the process must stop granting and open the journal anew to write again.
  bool writer_lost() const { return do_writer_lost(); }

  // The on-disk schema version (docs/JOURNAL.md, "Versions and migrations").
  int schema_version() { return do_schema_version(); }
  // Where the journal is, for log lines: a file path or a URI without its password.
  const std::string& location() const { return location_; }

 protected:
  // `location` as location() shows it.
  explicit journal(std::string location) : location_(std::move(location)) {}
  // For a backend whose open ran the full check (integrity_check::at_open, or a journal that
  // open had to write anyway): writes are allowed from now on, as after verify().
  void mark_verified() { verified_.store(true, std::memory_order_release); }

 private:
  // The hooks a backend implements. The do_record_* and do_prune_before hooks are called with
  // arguments the checks above accepted, and only once verified(): no record or batch they get
  // is refused for its values. do_history gets a filter history_filter_problem() accepts.
  virtual void do_record_releases(std::span<const release_record> records,
                                  std::span<const release_reattribution> reattributions,
                                  std::span<const release_outcome> outcomes) = 0;
  virtual void do_record_limits(const session_limits& limits, std::string_view bot) = 0;
  virtual recovery_state do_recover(std::string_view bot) = 0;
  virtual std::uint64_t do_count_releases_since(unix_ms since, std::string_view bot) = 0;
  virtual std::vector<shard_grant> do_shard_grants_since(unix_ms since, std::string_view bot) = 0;
  virtual std::vector<reported_invalid_session> do_invalid_sessions_since(
      unix_ms since, std::string_view bot) = 0;
  virtual std::vector<release_record> do_history(const history_filter& filter) = 0;
  virtual std::uint64_t do_prune_before(unix_ms cutoff, std::uint32_t batch) = 0;
  // The check and the proof of verify(), run while !verified(); verify() marks the journal
  // verified once it returns.
  virtual void do_verify() = 0;
  virtual void do_confirm_writer() {}
  virtual bool do_writer_lost() const { return false; }
  virtual int do_schema_version() = 0;

  // Throws journal_error "journal <location>: <what>: <reason>".
  [[noreturn]] void refuse(std::string_view what, std::string_view reason) const;
  void require_verified(std::string_view what) const;

  std::string location_;
  std::atomic<bool> verified_{false};
};

// True for a PostgreSQL connection URI ("postgresql://..." or "postgres://..."), which
// open_journal opens as a PostgreSQL journal; anything else names a SQLite file.
bool is_postgres_location(std::string_view location);
// The location as log lines may show it: a PostgreSQL URI without its password, a file as is.
std::string redacted_location(std::string_view location);

// Opens the journal named by QUEUE_DB: a PostgreSQL database for a postgresql:// or postgres://
// URI (storage/postgres/journal.hpp), else a SQLite file (created when missing, migrated when
// older). Throws journal_error when it cannot be opened, is not a journal, is from a newer
// version, is read-only, or (integrity_check::at_open) is damaged. It never replaces an
// unreadable file.
std::unique_ptr<journal> open_journal(const std::string& location, journal_options options = {});

// The writer's way in to a journal another process may hold (journal_options::exclusive), for a
// queue that stands by until it can write. PostgreSQL: one database session, kept while the
// queue waits, on which the journal's lock is tried again; so a standby costs the database one
// idle session, not a login per try, and the session that wins the lock becomes the journal's
// writer. A SQLite file: every call opens the journal (the server's file lock decides instead).
class journal_claim {
 public:
  virtual ~journal_claim() = default;
  // The journal, opened as open_journal does, once this process holds it; null while another
  // does. Throws journal_error as open_journal does; a session that broke is opened anew by the
  // next call.
  virtual std::unique_ptr<journal> try_open() = 0;
};

// A claim on the journal at `location` (as open_journal names it), opened with `options`.
std::unique_ptr<journal_claim> claim_journal(const std::string& location, journal_options options);

}  // namespace gq::storage
