#include "storage/sqlite/journal.hpp"

#include <string>
#include <type_traits>
#include <vector>

#include "storage/sql.hpp"
#include "storage/sqlite/connection.hpp"
#include "storage/sqlite/history.hpp"
#include "storage/sqlite/schema.hpp"
#include "storage/sqlite/statement.hpp"
#include "storage/sqlite/transaction.hpp"

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
// busy_timeout = sqlite::k_busy_timeout_ms: see there.
//
// foreign_keys: not set; the schema has no foreign keys.
constexpr const char* synchronous_pragma(durability mode) {
  return mode == durability::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
}

// Opens the writer connection. `verified` says whether the full integrity check ran (and the
// file was proven writable): always, unless `check` is deferred and the file needs no write to
// be used as it is (current schema, already WAL).
sqlite::connection open_writer(const std::string& path, durability mode, integrity_check check,
                               bool& verified) {
  // CREATE makes a missing file (not a missing directory). SQLite never truncates or replaces an
  // existing file; everything below reads before it writes.
  sqlite::connection db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  // SQLite falls back to read-only when the OS refuses write access; grants would then fail one
  // by one, so refuse now.
  if (sqlite3_db_readonly(db.get(), "main") == 1) {
    db.fail("refusing to open", "the file is read-only for this process");
  }
  db.exec("PRAGMA busy_timeout = " + std::to_string(sqlite::k_busy_timeout_ms),
          "setting busy_timeout");
  // The first read: a file that is not SQLite, not ours, or newer fails here, at once.
  const sqlite::file_state state = sqlite::inspect(db);
  sqlite::check_openable(db, state);
  verified =
      !(check == integrity_check::deferred && state.version == sqlite_journal::k_schema_version &&
        db.query_text("PRAGMA journal_mode", "reading the journal mode") == "wal");
  if (verified) {
    sqlite::check_integrity(db);
    // Only now is the file known to be ours (or new): the journal mode is written to its header.
    if (const std::string journal_mode = db.query_text("PRAGMA journal_mode = WAL", "enabling WAL");
        journal_mode != "wal") {
      db.fail("enabling WAL", "journal_mode is \"" + journal_mode + "\", not \"wal\"");
    }
  }
  db.exec(synchronous_pragma(mode), "setting synchronous");
  if (verified) sqlite::migrate(db);
  return db;
}

// One grant a row; the shared statements are in storage/sql.hpp.
constexpr std::string_view k_insert_release =
    "INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms, bot) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

// A shared statement (storage/sql.hpp) as SQLite writes its placeholders.
std::string sqlite_text(std::string_view shared) {
  return sql::for_dialect(shared, sql::dialect::sqlite);
}

// A grant's shard, or NULL for a request that named none.
void bind_shard(sqlite::statement_use& use, int index, shard_id shard) {
  if (shard) {
    use.bind_int(index, static_cast<std::int64_t>(*shard));
  } else {
    use.bind_null(index);
  }
}

// Every row of `statement` run with ?1 = `since` and ?2 = `bot`, decoded by `decode`
// (storage/sql.hpp).
template <class Decode>
auto decode_rows(sqlite::statement& statement, unix_ms since, std::string_view bot, Decode decode) {
  std::vector<std::invoke_result_t<Decode, const sqlite::statement_use&>> decoded;
  auto rows = statement.use();
  rows.bind_int(1, since).bind_text(2, bot);
  while (rows.step()) decoded.push_back(decode(rows));
  return decoded;
}

}  // namespace

struct sqlite_journal::writer {
  writer(const std::string& path, durability mode, integrity_check check, bool& verified)
      : db(open_writer(path, mode, check, verified)),
        transactions(db),
        insert_release(db, k_insert_release, "recording grants"),
        reattribute_release(db, sqlite_text(sql::k_reattribute_release), "re-attributing a grant"),
        record_outcome(db, sqlite_text(sql::k_record_outcome), "recording an outcome"),
        shard_grants_since(db, sqlite_text(sql::k_shard_grants_since),
                           "reading the last hour's grants"),
        invalid_sessions_since(db, sqlite_text(sql::k_invalid_sessions_since),
                               "reading Invalid Sessions"),
        insert_limits(db, sqlite_text(sql::k_insert_limits), "recording limits"),
        newest_limits(db, sqlite_text(sql::k_newest_limits), "reading the newest limits"),
        newest_release(db, sqlite_text(sql::k_newest_release), "reading the newest grant"),
        newest_by_bucket(db, sqlite_text(sql::k_newest_by_bucket),
                         "reading the newest grant per bucket"),
        count_since(db, sqlite_text(sql::k_count_since), "counting grants") {}

  // Declared first: destroyed last, after every statement prepared on it.
  sqlite::connection db;
  sqlite::transaction_statements transactions;
  sqlite::statement insert_release;
  sqlite::statement reattribute_release;
  sqlite::statement record_outcome;
  sqlite::statement shard_grants_since;
  sqlite::statement invalid_sessions_since;
  sqlite::statement insert_limits;
  sqlite::statement newest_limits;
  sqlite::statement newest_release;
  sqlite::statement newest_by_bucket;
  sqlite::statement count_since;
};

sqlite_journal::sqlite_journal(const std::string& path, durability mode, integrity_check check)
    : journal(path) {
  bool verified = false;
  writer_ = std::make_unique<writer>(path, mode, check, verified);
  // After the writer: a new or older file has its current schema by now.
  reader_ = std::make_unique<storage::history>(path);
  if (verified) mark_verified();
}

sqlite_journal::~sqlite_journal() = default;

void sqlite_journal::do_record_releases(std::span<const release_record> records,
                                        std::span<const release_reattribution> reattributions,
                                        std::span<const release_outcome> outcomes) {
  sqlite::write_transaction transaction(writer_->transactions);
  for (const release_record& record : records) {
    auto insert = writer_->insert_release.use();
    insert.bind_int(1, record.released_at);
    bind_shard(insert, 2, record.shard);
    insert.bind_int(3, record.bucket)
        .bind_int(4, record.max_concurrency)
        .bind_int(5, record.waited_ms)
        .bind_text(6, record.bot)
        .run();
  }
  for (const release_reattribution& moved : reattributions) {
    auto update = writer_->reattribute_release.use();
    bind_shard(update, 1, moved.shard);
    update.bind_int(2, moved.waited_ms)
        .bind_int(3, moved.released_at)
        .bind_int(4, moved.bucket)
        .bind_int(5, moved.max_concurrency)
        .bind_text(6, moved.bot)
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
        .bind_text(7, reported.bot)
        .run();
  }
  transaction.commit();
}

void sqlite_journal::do_record_limits(const session_limits& limits, std::string_view bot) {
  sqlite::write_transaction transaction(writer_->transactions);
  writer_->insert_limits.use()
      .bind_int(1, limits.fetched_at)
      .bind_int(2, limits.total)
      .bind_int(3, limits.remaining)
      .bind_int(4, limits.reset_at)
      .bind_int(5, limits.max_concurrency)
      .bind_text(6, to_string(limits.source))
      .bind_text(7, bot)
      .run();
  transaction.commit();
}

recovery_state sqlite_journal::do_recover(std::string_view bot) {
  recovery_state state;
  // One read transaction, so the three reads see one state of the file even while the history
  // connection prunes; it takes no write lock, so neither waits for the other.
  sqlite::read_transaction transaction(writer_->transactions);
  if (auto row = writer_->newest_limits.use(); row.bind_text(1, bot).step())
    state.limits = sql::read_limits(row);
  if (auto row = writer_->newest_release.use(); row.bind_text(1, bot).step())
    sql::read_newest_release(row, state);
  state.last_release_by_bucket.resize(state.last_max_concurrency);
  if (state.last_max_concurrency > 0) {
    auto rows = writer_->newest_by_bucket.use();
    rows.bind_int(1, state.last_max_concurrency).bind_text(2, bot);
    while (rows.step()) sql::read_newest_of_bucket(rows, state);
  }
  transaction.commit();
  return state;
}

std::uint64_t sqlite_journal::do_count_releases_since(unix_ms since, std::string_view bot) {
  auto row = writer_->count_since.use();
  row.bind_int(1, since).bind_text(2, bot);
  row.step();
  return static_cast<std::uint64_t>(row.integer(0));
}

std::vector<shard_grant> sqlite_journal::do_shard_grants_since(unix_ms since,
                                                               std::string_view bot) {
  return decode_rows(writer_->shard_grants_since, since, bot,
                     [](const sqlite::statement_use& row) { return sql::read_shard_grant(row); });
}

std::vector<reported_invalid_session> sqlite_journal::do_invalid_sessions_since(
    unix_ms since, std::string_view bot) {
  return decode_rows(
      writer_->invalid_sessions_since, since, bot,
      [](const sqlite::statement_use& row) { return sql::read_invalid_session(row); });
}

std::vector<release_record> sqlite_journal::do_history(const history_filter& filter) {
  return reader_->read(filter);
}

std::uint64_t sqlite_journal::do_prune_before(unix_ms cutoff, std::uint32_t batch) {
  return reader_->prune_before(cutoff, batch);
}

void sqlite_journal::do_verify() {
  // A connection of its own: the check reads the whole file, and history reads go on meanwhile.
  sqlite::connection db(location(), SQLITE_OPEN_READWRITE);
  db.exec("PRAGMA busy_timeout = " + std::to_string(sqlite::k_busy_timeout_ms),
          "setting busy_timeout");
  sqlite::check_integrity(db);
  // Nothing to migrate (the file was current at open); this writes the schema version again, so
  // a file that cannot be written fails here rather than at the first grant.
  sqlite::migrate(db);
}

int sqlite_journal::do_schema_version() {
  return static_cast<int>(
      writer_->db.query_int("PRAGMA user_version", "reading the schema version"));
}

}  // namespace gq::storage
