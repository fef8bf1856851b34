#include "storage/sqlite_journal.hpp"

#include <string>

#include "storage/connection.hpp"
#include "storage/history.hpp"
#include "storage/schema.hpp"
#include "storage/statement.hpp"
#include "storage/transaction.hpp"

namespace gq::storage {

namespace {

// The pragmas of the writer, set once per connection at open.
//
// journal_mode = WAL: readers (GET /history, the retention pruner) never block the grant path
//   and the grant path never blocks them; a commit appends to the -wal file instead of
//   rewriting pages in place. Persistent: stored in the file, so the history connection and the
//   sqlite3 shell use WAL too.
//
// synchronous = FULL (durability::full): the WAL is fsync()ed at every COMMIT, before
//   record_releases returns, hence before any 200 is sent. A committed grant survives kill -9
//   and power loss alike. Costs one fsync per call, which is why a call batches many grants.
//
// synchronous = NORMAL (durability::normal): the WAL is fsync()ed only at checkpoints. A
//   committed grant survives kill -9 (it is in the OS page cache) but the last commits may be
//   lost on power loss or a kernel crash; the file is never corrupted either way.
//
// busy_timeout = detail::k_busy_timeout_ms: see there.
//
// foreign_keys: not set; the schema has no foreign keys.
constexpr const char* synchronous_pragma(durability mode) {
  return mode == durability::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
}

// Opens the writer connection. `verified` says whether the full integrity check ran (and the
// file was proven writable): always, unless `check` is deferred and the file needs no write to
// be used as it is (current schema, already WAL).
detail::connection open_writer(const std::string& path, durability mode, integrity_check check,
                               bool& verified) {
  // CREATE makes a missing file (not a missing directory). SQLite never truncates or replaces an
  // existing file; everything below reads before it writes.
  detail::connection db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  // SQLite falls back to read-only when the OS refuses write access; grants would then fail one
  // by one, so refuse now.
  if (sqlite3_db_readonly(db.get(), "main") == 1) {
    db.fail("refusing to open", "the file is read-only for this process");
  }
  db.exec("PRAGMA busy_timeout = " + std::to_string(detail::k_busy_timeout_ms),
          "setting busy_timeout");
  // The first read: a file that is not SQLite, not ours, or newer fails here, at once.
  const detail::file_state state = detail::inspect(db);
  detail::check_openable(db, state);
  verified =
      !(check == integrity_check::deferred && state.version == sqlite_journal::k_schema_version &&
        db.query_text("PRAGMA journal_mode", "reading the journal mode") == "wal");
  if (verified) {
    detail::check_integrity(db);
    // Only now is the file known to be ours (or new): the journal mode is written to its header.
    if (const std::string journal_mode = db.query_text("PRAGMA journal_mode = WAL", "enabling WAL");
        journal_mode != "wal") {
      db.fail("enabling WAL", "journal_mode is \"" + journal_mode + "\", not \"wal\"");
    }
  }
  db.exec(synchronous_pragma(mode), "setting synchronous");
  if (verified) detail::migrate(db);
  return db;
}

constexpr std::string_view k_insert_release =
    "INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
// The newest matching row: two grants of one bucket never share a due instant (they are an
// interval apart), the max() only guards against rows a restart with a stepped clock left.
constexpr std::string_view k_reattribute_release =
    "UPDATE releases SET shard = ?1, waited_ms = ?2 WHERE id = (SELECT max(id) FROM releases "
    "WHERE released_at = ?3 AND bucket = ?4 AND max_concurrency = ?5)";
// The same row as a re-attribution finds; a later report of the same grant replaces the earlier.
constexpr std::string_view k_record_outcome =
    "UPDATE releases SET outcome = ?1, outcome_code = ?2, outcome_at = ?3 WHERE id = (SELECT "
    "max(id) FROM releases WHERE released_at = ?4 AND bucket = ?5 AND max_concurrency = ?6)";
// Both read a bounded range by an index: an hour's grants (releases_by_released_at), the
// reported Invalid Sessions (the partial index releases_invalid_sessions).
constexpr std::string_view k_shard_grants_since =
    "SELECT shard, released_at, bucket, max_concurrency FROM releases "
    "WHERE released_at >= ?1 AND shard IS NOT NULL ORDER BY released_at, id";
constexpr std::string_view k_invalid_sessions_since =
    "SELECT released_at, bucket, max_concurrency, outcome_at FROM releases "
    "WHERE outcome = 'invalid_session' AND outcome_at >= ?1 ORDER BY outcome_at, id";
constexpr std::string_view k_insert_limits =
    "INSERT INTO limits (fetched_at, total, remaining, reset_at, max_concurrency, source) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr std::string_view k_newest_limits =
    "SELECT fetched_at, total, remaining, reset_at, max_concurrency, source "
    "FROM limits ORDER BY id DESC LIMIT 1";
// "Newest" is the largest released_at (ties: the larger id), as in GET /history: pacing must wait
// for the latest timestamp even if the wall clock once stepped back.
constexpr std::string_view k_newest_release =
    "SELECT released_at, max_concurrency FROM releases "
    "ORDER BY released_at DESC, id DESC LIMIT 1";
// A skip-scan over releases_by_bucket (max_concurrency, bucket, released_at): one index seek for
// each bucket present and one for its newest grant, so recovery costs O(buckets x log rows)
// instead of reading every row (0.6 ms instead of 1.2 s for 1,000,000 rows, docs/BENCHMARKS.md).
constexpr std::string_view k_newest_by_bucket = R"sql(
WITH RECURSIVE present(bucket) AS (
  SELECT (SELECT min(bucket) FROM releases WHERE max_concurrency = ?1 AND bucket >= 0)
  UNION ALL
  SELECT (SELECT min(bucket) FROM releases WHERE max_concurrency = ?1 AND bucket > present.bucket)
  FROM present WHERE present.bucket IS NOT NULL AND present.bucket < ?1)
SELECT bucket,
       (SELECT max(released_at) FROM releases WHERE max_concurrency = ?1 AND bucket = present.bucket)
FROM present WHERE bucket IS NOT NULL AND bucket < ?1)sql";
constexpr std::string_view k_count_since = "SELECT count(*) FROM releases WHERE released_at >= ?1";

// Checked before the transaction begins: a batch with one bad record is refused whole and
// nothing is written. The queue never produces these; recover() relies on them never being stored.
void check_record(const detail::connection& db, const release_record& record) {
  if (auto problem = release_record_problem(record)) db.fail("recording grants", *problem);
}

}  // namespace

namespace {

// A grant's shard, or NULL for a request that named none.
void bind_shard(detail::statement_use& use, int index, shard_id shard) {
  if (shard) {
    use.bind_int(index, static_cast<std::int64_t>(*shard));
  } else {
    use.bind_null(index);
  }
}

}  // namespace

struct sqlite_journal::writer {
  writer(const std::string& path, durability mode, integrity_check check, bool& verified)
      : db(open_writer(path, mode, check, verified)),
        transactions(db),
        insert_release(db, k_insert_release, "recording grants"),
        reattribute_release(db, k_reattribute_release, "re-attributing a grant"),
        record_outcome(db, k_record_outcome, "recording an outcome"),
        shard_grants_since(db, k_shard_grants_since, "reading the last hour's grants"),
        invalid_sessions_since(db, k_invalid_sessions_since, "reading Invalid Sessions"),
        insert_limits(db, k_insert_limits, "recording limits"),
        newest_limits(db, k_newest_limits, "reading the newest limits"),
        newest_release(db, k_newest_release, "reading the newest grant"),
        newest_by_bucket(db, k_newest_by_bucket, "reading the newest grant per bucket"),
        count_since(db, k_count_since, "counting grants") {}

  // Declared first: destroyed last, after every statement prepared on it.
  detail::connection db;
  detail::transaction_statements transactions;
  detail::statement insert_release;
  detail::statement reattribute_release;
  detail::statement record_outcome;
  detail::statement shard_grants_since;
  detail::statement invalid_sessions_since;
  detail::statement insert_limits;
  detail::statement newest_limits;
  detail::statement newest_release;
  detail::statement newest_by_bucket;
  detail::statement count_since;
};

sqlite_journal::sqlite_journal(const std::string& path, durability mode, integrity_check check) {
  bool verified = false;
  writer_ = std::make_unique<writer>(path, mode, check, verified);
  // After the writer: a new or older file has its current schema by now.
  reader_ = std::make_unique<storage::history>(path);
  verified_.store(verified, std::memory_order_release);
}

sqlite_journal::~sqlite_journal() = default;

void sqlite_journal::require_verified(const char* what) const {
  if (!verified()) writer_->db.fail(what, "the journal's integrity check has not passed");
}

void sqlite_journal::record_releases(std::span<const release_record> records,
                                     std::span<const release_reattribution> reattributions,
                                     std::span<const release_outcome> outcomes) {
  if (records.empty() && reattributions.empty() && outcomes.empty()) return;
  for (const release_record& record : records) check_record(writer_->db, record);
  for (const release_reattribution& moved : reattributions) {
    check_record(writer_->db, {moved.released_at, moved.shard, moved.bucket, moved.max_concurrency,
                               moved.waited_ms});
  }
  require_verified("recording grants");
  detail::write_transaction transaction(writer_->transactions);
  for (const release_record& record : records) {
    auto insert = writer_->insert_release.use();
    insert.bind_int(1, record.released_at);
    bind_shard(insert, 2, record.shard);
    insert.bind_int(3, record.bucket)
        .bind_int(4, record.max_concurrency)
        .bind_int(5, record.waited_ms)
        .run();
  }
  for (const release_reattribution& moved : reattributions) {
    auto update = writer_->reattribute_release.use();
    bind_shard(update, 1, moved.shard);
    update.bind_int(2, moved.waited_ms)
        .bind_int(3, moved.released_at)
        .bind_int(4, moved.bucket)
        .bind_int(5, moved.max_concurrency)
        .run();
  }
  for (const release_outcome& reported : outcomes) {
    auto update = writer_->record_outcome.use();
    update.bind_text(1, to_string(reported.outcome.result));
    if (reported.outcome.code)
      update.bind_int(2, *reported.outcome.code);
    else
      update.bind_null(2);
    update.bind_int(3, reported.outcome.reported_at)
        .bind_int(4, reported.row.released_at)
        .bind_int(5, reported.row.bucket)
        .bind_int(6, reported.row.max_concurrency)
        .run();
  }
  transaction.commit();
}

void sqlite_journal::record_limits(const session_limits& limits) {
  if (limits.max_concurrency == 0) writer_->db.fail("recording limits", "max_concurrency is 0");
  require_verified("recording limits");
  detail::write_transaction transaction(writer_->transactions);
  writer_->insert_limits.use()
      .bind_int(1, limits.fetched_at)
      .bind_int(2, limits.total)
      .bind_int(3, limits.remaining)
      .bind_int(4, limits.reset_at)
      .bind_int(5, limits.max_concurrency)
      .bind_text(6, to_string(limits.source))
      .run();
  transaction.commit();
}

recovery_state sqlite_journal::recover() {
  recovery_state state;
  // One read transaction, so the three reads see one state of the file even while the history
  // connection prunes; it takes no write lock, so neither waits for the other.
  detail::read_transaction transaction(writer_->transactions);
  if (auto read = writer_->newest_limits.use(); read.step()) {
    session_limits limits;
    limits.fetched_at = read.column_int(0);
    limits.total = static_cast<std::uint32_t>(read.column_int(1));
    limits.remaining = static_cast<std::uint32_t>(read.column_int(2));
    limits.reset_at = read.column_int(3);
    limits.max_concurrency = static_cast<std::uint32_t>(read.column_int(4));
    limits.source =
        read.column_text(5) == "discord" ? limits_source::discord : limits_source::config;
    state.limits = limits;
  }
  if (auto read = writer_->newest_release.use(); read.step()) {
    state.last_release_at = read.column_int(0);
    state.last_max_concurrency = static_cast<std::uint32_t>(read.column_int(1));
  }
  state.last_release_by_bucket.resize(state.last_max_concurrency);
  if (state.last_max_concurrency > 0) {
    auto read = writer_->newest_by_bucket.use();
    read.bind_int(1, state.last_max_concurrency);
    while (read.step()) {
      state.last_release_by_bucket[static_cast<std::size_t>(read.column_int(0))] =
          read.column_int(1);
    }
  }
  transaction.commit();
  return state;
}

std::uint64_t sqlite_journal::count_releases_since(unix_ms since) {
  auto read = writer_->count_since.use();
  read.bind_int(1, since);
  read.step();
  return static_cast<std::uint64_t>(read.column_int(0));
}

std::vector<shard_grant> sqlite_journal::shard_grants_since(unix_ms since) {
  std::vector<shard_grant> grants;
  auto read = writer_->shard_grants_since.use();
  read.bind_int(1, since);
  while (read.step()) {
    grants.push_back({static_cast<std::uint64_t>(read.column_int(0)),
                      {read.column_int(1), static_cast<std::uint32_t>(read.column_int(2)),
                       static_cast<std::uint32_t>(read.column_int(3))}});
  }
  return grants;
}

std::vector<reported_invalid_session> sqlite_journal::invalid_sessions_since(unix_ms since) {
  std::vector<reported_invalid_session> reports;
  auto read = writer_->invalid_sessions_since.use();
  read.bind_int(1, since);
  while (read.step()) {
    reports.push_back({{read.column_int(0), static_cast<std::uint32_t>(read.column_int(1)),
                        static_cast<std::uint32_t>(read.column_int(2))},
                       read.column_int(3)});
  }
  return reports;
}

std::vector<release_record> sqlite_journal::history(const history_filter& filter) {
  return reader_->query(filter);
}

std::uint64_t sqlite_journal::prune_before(unix_ms cutoff, std::uint32_t batch) {
  require_verified("pruning old grants");
  return reader_->prune_before(cutoff, batch);
}

void sqlite_journal::verify() {
  if (verified()) return;
  // A connection of its own: the check reads the whole file, and history reads go on meanwhile.
  detail::connection db(writer_->db.path(), SQLITE_OPEN_READWRITE);
  db.exec("PRAGMA busy_timeout = " + std::to_string(detail::k_busy_timeout_ms),
          "setting busy_timeout");
  detail::check_integrity(db);
  // Nothing to migrate (the file was current at open); this writes the schema version again, so
  // a file that cannot be written fails here rather than at the first grant.
  detail::migrate(db);
  verified_.store(true, std::memory_order_release);
}

int sqlite_journal::schema_version() {
  return static_cast<int>(
      writer_->db.query_int("PRAGMA user_version", "reading the schema version"));
}

const std::string& sqlite_journal::location() const { return writer_->db.path(); }

}  // namespace gq::storage
