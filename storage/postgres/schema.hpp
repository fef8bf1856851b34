#pragma once
// The PostgreSQL journal's schema as a list of migrations, and the checks that tell a journal
// from any other database. Format reference: docs/JOURNAL.md, "PostgreSQL".

#include <span>
#include <string_view>

#include "storage/postgres/connection.hpp"

namespace gq::storage::postgres {

// The PostgreSQL schema version this build writes. Numbered like the SQLite schema it matches
// (version 3: grants with bucket, max_concurrency and wait; limits; the bucket index); a
// PostgreSQL journal starts at 3, and later versions append a migration for both backends.
inline constexpr int k_schema_version = 5;

struct migration {
  int version;
  std::string_view sql;
};

// Invariant: versions ascend and the last is k_schema_version; entries already released
// never change, because databases in the field were made by them.
std::span<const migration> migrations();

// What the database holds before it is touched.
struct database_state {
  int version = 0;              // gq_schema.version; 0 when there is no gq_schema table
  bool has_our_tables = false;  // a table named releases or limits exists
};

// Reads the schema table (in the connection's current schema, normally "public").
database_state inspect(connection& db);

// Throws journal_error unless the database has none of our tables (a new journal) or is a
// journal with a schema no newer than this build's. Never writes.
void check_openable(connection& db, const database_state& state);

// Throws journal_error unless every column the journal reads and writes is there.
void check_columns(connection& db);

// Applies the missing migrations and writes the schema version, in one transaction under a
// transaction-level advisory lock (two queues starting together migrate once). Writes even when
// nothing is missing: a read-only server (a standby) fails here, at open, not at the first grant.
void migrate(connection& db);

}  // namespace gq::storage::postgres
