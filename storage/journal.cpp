#include "storage/journal.hpp"

#include <limits>
#include <string>

#include "storage/connection.hpp"
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

detail::connection open_journal(const std::string& path, durability mode) {
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
  const detail::file_state state = detail::inspect(db);
  detail::check_openable(db, state);
  detail::check_integrity(db);
  // Only now is the file known to be ours (or new): the journal mode is written to its header.
  if (const std::string journal_mode = db.query_text("PRAGMA journal_mode = WAL", "enabling WAL");
      journal_mode != "wal") {
    db.fail("enabling WAL", "journal_mode is \"" + journal_mode + "\", not \"wal\"");
  }
  db.exec(synchronous_pragma(mode), "setting synchronous");
  detail::migrate(db);
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
constexpr std::string_view k_newest_by_bucket =
    "SELECT bucket, max(released_at) FROM releases "
    "WHERE max_concurrency = ?1 AND bucket >= 0 AND bucket < ?1 GROUP BY bucket";
constexpr std::string_view k_count_since = "SELECT count(*) FROM releases WHERE released_at >= ?1";

constexpr auto k_max_stored_shard =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// Checked before the transaction begins: a batch with one bad record is refused whole and
// nothing is written. The queue never produces these; recover() relies on them never being stored.
void check_record(const detail::connection& db, const release_record& record) {
  if (record.max_concurrency == 0) db.fail("recording grants", "max_concurrency is 0");
  if (record.bucket >= record.max_concurrency) {
    db.fail("recording grants", "bucket " + std::to_string(record.bucket) +
                                    " is not below max_concurrency " +
                                    std::to_string(record.max_concurrency));
  }
  if (record.shard && *record.shard > k_max_stored_shard) {
    db.fail("recording grants", "shard " + std::to_string(*record.shard) + " exceeds 2^63 - 1");
  }
}

}  // namespace

struct journal::impl {
  impl(const std::string& path, durability mode)
      : db(open_journal(path, mode)),
        transactions(db),
        insert_release(db, k_insert_release, "recording grants"),
        reattribute_release(db, k_reattribute_release, "re-attributing a grant"),
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
  detail::statement insert_limits;
  detail::statement newest_limits;
  detail::statement newest_release;
  detail::statement newest_by_bucket;
  detail::statement count_since;
};

journal::journal(const std::string& path, durability mode)
    : impl_(std::make_unique<impl>(path, mode)) {}

journal::~journal() = default;
journal::journal(journal&&) noexcept = default;
journal& journal::operator=(journal&&) noexcept = default;

void journal::record_releases(std::span<const release_record> records) {
  record_releases(records, {});
}

void journal::record_releases(std::span<const release_record> records,
                              std::span<const release_reattribution> reattributions) {
  if (records.empty() && reattributions.empty()) return;
  for (const release_record& record : records) check_record(impl_->db, record);
  for (const release_reattribution& moved : reattributions) {
    check_record(impl_->db, {moved.released_at, moved.shard, moved.bucket, moved.max_concurrency,
                             moved.waited_ms});
  }
  detail::write_transaction transaction(impl_->transactions);
  for (const release_record& record : records) {
    auto insert = impl_->insert_release.use();
    insert.bind_int(1, record.released_at);
    if (record.shard) {
      insert.bind_int(2, static_cast<std::int64_t>(*record.shard));
    } else {
      insert.bind_null(2);
    }
    insert.bind_int(3, record.bucket)
        .bind_int(4, record.max_concurrency)
        .bind_int(5, record.waited_ms)
        .run();
  }
  for (const release_reattribution& moved : reattributions) {
    auto update = impl_->reattribute_release.use();
    if (moved.shard) {
      update.bind_int(1, static_cast<std::int64_t>(*moved.shard));
    } else {
      update.bind_null(1);
    }
    update.bind_int(2, moved.waited_ms)
        .bind_int(3, moved.released_at)
        .bind_int(4, moved.bucket)
        .bind_int(5, moved.max_concurrency)
        .run();
  }
  transaction.commit();
}

void journal::record_limits(const session_limits& limits) {
  if (limits.max_concurrency == 0) impl_->db.fail("recording limits", "max_concurrency is 0");
  detail::write_transaction transaction(impl_->transactions);
  impl_->insert_limits.use()
      .bind_int(1, limits.fetched_at)
      .bind_int(2, limits.total)
      .bind_int(3, limits.remaining)
      .bind_int(4, limits.reset_at)
      .bind_int(5, limits.max_concurrency)
      .bind_text(6, to_string(limits.source))
      .run();
  transaction.commit();
}

recovery_state journal::recover() {
  recovery_state state;
  // One transaction, so the three reads see one state of the file even while the history
  // connection prunes.
  detail::write_transaction transaction(impl_->transactions);
  if (auto read = impl_->newest_limits.use(); read.step()) {
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
  if (auto read = impl_->newest_release.use(); read.step()) {
    state.last_release_at = read.column_int(0);
    state.last_max_concurrency = static_cast<std::uint32_t>(read.column_int(1));
  }
  state.last_release_by_bucket.resize(state.last_max_concurrency);
  if (state.last_max_concurrency > 0) {
    auto read = impl_->newest_by_bucket.use();
    read.bind_int(1, state.last_max_concurrency);
    while (read.step()) {
      state.last_release_by_bucket[static_cast<std::size_t>(read.column_int(0))] =
          read.column_int(1);
    }
  }
  transaction.commit();
  return state;
}

std::uint64_t journal::count_releases_since(unix_ms since) {
  auto read = impl_->count_since.use();
  read.bind_int(1, since);
  read.step();
  return static_cast<std::uint64_t>(read.column_int(0));
}

int journal::schema_version() {
  return static_cast<int>(impl_->db.query_int("PRAGMA user_version", "reading the schema version"));
}

const std::string& journal::path() const { return impl_->db.path(); }

}  // namespace gq::storage
