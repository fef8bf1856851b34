#include "storage/sqlite/schema.hpp"

#include <array>
#include <string>

#include "storage/sqlite/journal.hpp"
#include "storage/sqlite/transaction.hpp"

namespace gq::storage::sqlite {

namespace {

// Version 1, the previous release: grants only, no limits, every grant under max_concurrency 1.
constexpr std::string_view k_version_1 = R"sql(
CREATE TABLE releases (
  id INTEGER PRIMARY KEY,
  released_at INTEGER NOT NULL,
  shard INTEGER NULL,
  bucket INTEGER NOT NULL
);
CREATE INDEX releases_by_released_at ON releases(released_at);
CREATE INDEX releases_by_shard ON releases(shard, released_at);
)sql";

// Version 2: the max_concurrency and wait of each grant, and journaled limits. The defaults are
// what version 1 implied (one bucket; the wait was not measured).
constexpr std::string_view k_version_2 = R"sql(
ALTER TABLE releases ADD COLUMN max_concurrency INTEGER NOT NULL DEFAULT 1;
ALTER TABLE releases ADD COLUMN waited_ms INTEGER NOT NULL DEFAULT 0;
CREATE TABLE limits (
  id INTEGER PRIMARY KEY,
  fetched_at INTEGER NOT NULL,
  total INTEGER NOT NULL,
  remaining INTEGER NOT NULL,
  reset_at INTEGER NOT NULL,
  max_concurrency INTEGER NOT NULL,
  source TEXT NOT NULL CHECK(source IN ('discord', 'config'))
);
)sql";

// Version 3: an index for recovery's "newest grant of each bucket" (storage/sql.hpp),
// which otherwise reads every row at each start. Building it reads every row once, at the first
// start on a version-2 file (about 3 s for 1,000,000 rows on a loaded 2-core machine).
constexpr std::string_view k_version_3 = R"sql(
CREATE INDEX releases_by_bucket ON releases(max_concurrency, bucket, released_at);
)sql";

// Version 4: what each grant became, as its shard reported it (POST /outcome); NULL for grants
// without a report, older ones included. Adding NULL columns rewrites no row. The partial index
// holds the Invalid Sessions alone, which a restart reads back to widen buckets again.
constexpr std::string_view k_version_4 = R"sql(
ALTER TABLE releases ADD COLUMN outcome TEXT;
ALTER TABLE releases ADD COLUMN outcome_code INTEGER;
ALTER TABLE releases ADD COLUMN outcome_at INTEGER;
CREATE INDEX releases_invalid_sessions ON releases(outcome_at) WHERE outcome = 'invalid_session';
)sql";

// Version 5: several bots in one journal. Every grant and every set of limits names its bot;
// rows of older files were all the one bot's, `default`. ADD COLUMN with a constant default
// rewrites no row. Every read of one bot stays a seek in an index that starts with the bot,
// whatever the number of bots: the bucket index and the Invalid Sessions index gain the bot as
// their first column, releases_by_bot serves a bot's newest grant, its grants since an instant
// and its history, limits_by_bot its newest limits. releases_by_released_at (retention, every
// bot's history) and releases_by_shard (history by shard) stay. Building the three indexes reads
// every row, once, at the first start on a version-4 file: for 1,000,000 rows 2.6 s (3.2-4.0 s
// for the whole open, integrity check included) on the loaded 2-core machine, and the file grows
// from 85 to 114 MB.
constexpr std::string_view k_version_5 = R"sql(
ALTER TABLE releases ADD COLUMN bot TEXT NOT NULL DEFAULT 'default';
ALTER TABLE limits ADD COLUMN bot TEXT NOT NULL DEFAULT 'default';
DROP INDEX releases_by_bucket;
DROP INDEX releases_invalid_sessions;
CREATE INDEX releases_by_bucket ON releases(bot, max_concurrency, bucket, released_at);
CREATE INDEX releases_by_bot ON releases(bot, released_at);
CREATE INDEX releases_invalid_sessions ON releases(bot, outcome_at)
  WHERE outcome = 'invalid_session';
CREATE INDEX limits_by_bot ON limits(bot, id);
)sql";

constexpr std::array k_migrations{
    migration{1, k_version_1}, migration{2, k_version_2}, migration{3, k_version_3},
    migration{4, k_version_4}, migration{5, k_version_5},
};
static_assert(k_migrations.back().version == sqlite_journal::k_schema_version,
              "a new schema version needs its migration in k_migrations");

[[noreturn]] void refuse_newer(connection& db, int version) {
  db.fail("refusing to open",
          "schema version " + std::to_string(version) + " is newer than this build's " +
              std::to_string(sqlite_journal::k_schema_version) + "; run a newer gateway-queue");
}

}  // namespace

std::span<const migration> migrations() { return k_migrations; }

file_state inspect(connection& db) {
  file_state state;
  state.version =
      static_cast<int>(db.query_int("PRAGMA user_version", "reading the schema version"));
  state.empty = db.query_int("SELECT count(*) FROM sqlite_master", "reading the schema") == 0;
  state.has_releases =
      db.query_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'releases'",
                   "reading the schema") != 0;
  return state;
}

void check_openable(connection& db, const file_state& state) {
  if (state.version > sqlite_journal::k_schema_version) refuse_newer(db, state.version);
  if (state.version < 0 || (state.version == 0 && !state.empty) ||
      (state.version > 0 && !state.has_releases)) {
    db.fail("refusing to open", "not a gateway-queue journal (schema version " +
                                    std::to_string(state.version) +
                                    ", no releases table of ours); it is left untouched");
  }
}

void check_current(connection& db, const file_state& state) {
  check_openable(db, state);
  if (state.version == 0) db.fail("refusing to open", "not a gateway-queue journal (empty)");
  if (state.version < sqlite_journal::k_schema_version) {
    db.fail("refusing to open", "schema version " + std::to_string(state.version) +
                                    " is older than " +
                                    std::to_string(sqlite_journal::k_schema_version) +
                                    "; start gateway-queue on it once to migrate it");
  }
}

void check_integrity(connection& db) {
  std::string result = db.query_text("PRAGMA quick_check", "checking integrity");
  if (result == "ok") return;
  // The report can run to a hundred lines; the error is one log line with the first problems.
  constexpr std::size_t k_max_report = 300;
  if (result.size() > k_max_report) result.replace(k_max_report, std::string::npos, "...");
  for (char& c : result) {
    if (c == '\n') c = ' ';
  }
  db.fail("refusing to open", "integrity check failed (quick_check): " + result);
}

void migrate(connection& db) {
  transaction_statements statements(db);
  write_transaction transaction(statements);
  // Read again under the write lock: another process may have migrated since inspect().
  const file_state state = inspect(db);
  check_openable(db, state);
  for (const migration& step : k_migrations) {
    if (step.version <= state.version) continue;
    db.exec(std::string(step.sql), "migrating to schema version " + std::to_string(step.version));
  }
  db.exec("PRAGMA user_version = " + std::to_string(sqlite_journal::k_schema_version),
          "writing the schema version");
  transaction.commit();
}

}  // namespace gq::storage::sqlite
