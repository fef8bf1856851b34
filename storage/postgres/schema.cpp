#include "storage/postgres/schema.hpp"

#include <array>
#include <string>

namespace gq::storage::postgres {

namespace {

// Version 3, the first PostgreSQL schema: the same tables, columns and indexes as the SQLite
// journal's version 3. bigint throughout (SQLite's INTEGER is 64-bit); ids from a sequence, so
// "later journaled" is "larger id" as in SQLite. gq_schema holds one row, the schema version
// (PostgreSQL has no user_version).
constexpr std::string_view k_version_3 = R"sql(
CREATE TABLE releases (
  id bigserial PRIMARY KEY,
  released_at bigint NOT NULL,
  shard bigint NULL,
  bucket bigint NOT NULL,
  max_concurrency bigint NOT NULL DEFAULT 1,
  waited_ms bigint NOT NULL DEFAULT 0
);
CREATE INDEX releases_by_released_at ON releases(released_at);
CREATE INDEX releases_by_shard ON releases(shard, released_at);
CREATE INDEX releases_by_bucket ON releases(max_concurrency, bucket, released_at);
CREATE TABLE limits (
  id bigserial PRIMARY KEY,
  fetched_at bigint NOT NULL,
  total bigint NOT NULL,
  remaining bigint NOT NULL,
  reset_at bigint NOT NULL,
  max_concurrency bigint NOT NULL,
  source text NOT NULL CHECK(source IN ('discord', 'config'))
);
CREATE TABLE gq_schema (
  one boolean PRIMARY KEY DEFAULT true CHECK(one),
  version integer NOT NULL
);
)sql";

// Version 4, as the SQLite journal's: what each grant became (POST /outcome), NULL without a
// report; the partial index holds the Invalid Sessions a restart reads back.
constexpr std::string_view k_version_4 = R"sql(
ALTER TABLE releases ADD COLUMN outcome text NULL;
ALTER TABLE releases ADD COLUMN outcome_code bigint NULL;
ALTER TABLE releases ADD COLUMN outcome_at bigint NULL;
CREATE INDEX releases_invalid_sessions ON releases(outcome_at) WHERE outcome = 'invalid_session';
)sql";

// Version 5, as the SQLite journal's: each grant and set of limits names its bot, `default` for
// the rows of older versions. ADD COLUMN with a constant default rewrites no row (PostgreSQL
// 11+); the bucket and Invalid Sessions indexes gain the bot as their first column, and
// releases_by_bot and limits_by_bot make every read of one bot an index read whatever the
// number of bots. Building the three indexes reads every row once, at the first start on a
// version-4 database; each takes a SHARE lock on releases meanwhile (writes wait, reads do not).
constexpr std::string_view k_version_5 = R"sql(
ALTER TABLE releases ADD COLUMN bot text NOT NULL DEFAULT 'default';
ALTER TABLE limits ADD COLUMN bot text NOT NULL DEFAULT 'default';
DROP INDEX releases_by_bucket;
DROP INDEX releases_invalid_sessions;
CREATE INDEX releases_by_bucket ON releases(bot, max_concurrency, bucket, released_at);
CREATE INDEX releases_by_bot ON releases(bot, released_at);
CREATE INDEX releases_invalid_sessions ON releases(bot, outcome_at)
  WHERE outcome = 'invalid_session';
CREATE INDEX limits_by_bot ON limits(bot, id);
)sql";

constexpr std::array k_migrations{
    migration{3, k_version_3},
    migration{4, k_version_4},
    migration{5, k_version_5},
};
static_assert(k_migrations.back().version == k_schema_version,
              "a new schema version needs its migration in k_migrations");

// The key of the advisory lock that serialises migrations ("gq" "jrnl" in ASCII). Transaction-
// level: it is released at COMMIT and never conflicts with a session-level lock on another key.
constexpr std::string_view k_migration_lock = "SELECT pg_advisory_xact_lock(6778123474620268)";

}  // namespace

std::span<const migration> migrations() { return k_migrations; }

database_state inspect(connection& db) {
  database_state state;
  const result tables = db.query(
      "SELECT to_regclass('gq_schema') IS NOT NULL, "
      "to_regclass('releases') IS NOT NULL OR to_regclass('limits') IS NOT NULL",
      "reading the schema");
  state.has_our_tables = tables.text(0, 1) == "t";
  if (tables.text(0, 0) == "t") {
    const result version = db.query("SELECT version FROM gq_schema", "reading the schema version");
    state.version = version.rows() == 1 ? static_cast<int>(version.integer(0, 0)) : -1;
  }
  return state;
}

void check_openable(connection& db, const database_state& state) {
  if (state.version > k_schema_version) {
    db.fail("refusing to open",
            "schema version " + std::to_string(state.version) + " is newer than this build's " +
                std::to_string(k_schema_version) + "; run a newer gateway-queue");
  }
  if (state.version < 0 || (state.version == 0 && state.has_our_tables)) {
    db.fail("refusing to open",
            "not a gateway-queue journal (a releases or limits table without a gq_schema "
            "version); it is left untouched");
  }
}

void check_columns(connection& db) {
  db.query(
      "SELECT id, released_at, shard, bucket, max_concurrency, waited_ms, outcome, outcome_code, "
      "outcome_at, bot FROM releases LIMIT 0",
      "checking the releases table");
  db.query(
      "SELECT id, fetched_at, total, remaining, reset_at, max_concurrency, source, bot "
      "FROM limits LIMIT 0",
      "checking the limits table");
}

void migrate(connection& db) {
  transaction migrating(db, "BEGIN", "migrating the schema");
  db.exec(std::string(k_migration_lock), "locking the schema for migration");
  // Read again under the lock: another queue may have migrated since the first look.
  const database_state state = inspect(db);
  check_openable(db, state);
  for (const migration& step : k_migrations) {
    if (step.version <= state.version) continue;
    db.exec(std::string(step.sql), "migrating to schema version " + std::to_string(step.version));
  }
  const parameter version[] = {param(k_schema_version)};
  db.query(
      "INSERT INTO gq_schema (one, version) VALUES (true, $1) "
      "ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
      version, "writing the schema version");
  migrating.commit();
}

}  // namespace gq::storage::postgres
