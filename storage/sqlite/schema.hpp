#pragma once
// The journal's on-disk schema as a list of migrations, and the checks that tell a journal from
// any other file. Format reference: docs/JOURNAL.md.

#include <span>
#include <string_view>

#include "storage/sqlite/connection.hpp"

namespace gq::storage::sqlite {

// Brings a file from `version - 1` to `version`. Adding a schema version is appending one entry
// (and raising sqlite_journal::k_schema_version); entries already released never change, because
// files in the field were made by them.
struct migration {
  int version;
  std::string_view sql;
};

// Invariant: versions are 1, 2, ... in order and the last is sqlite_journal::k_schema_version.
std::span<const migration> migrations();

// What a file holds before it is touched.
struct file_state {
  int version = 0;    // PRAGMA user_version
  bool empty = true;  // no tables, indexes or views at all
  bool has_releases = false;
};

// Reads user_version and sqlite_master. This is the first read of the file, so a file that is
// not SQLite fails here ("file is not a database") before anything is written to it.
file_state inspect(connection& db);

// Throws journal_error unless the file is empty (a new journal) or a journal with a schema no
// newer than this build's. Never writes.
void check_openable(connection& db, const file_state& state);

// Throws journal_error unless the file is a journal of exactly the current schema: the history
// reader neither creates nor migrates.
void check_current(connection& db, const file_state& state);

// PRAGMA quick_check; throws journal_error naming the first problem unless it says "ok". Reads
// every page: 0.25 s per 1,000,000 grants on an idle machine.
void check_integrity(connection& db);

// Applies the missing migrations and sets user_version, all in one BEGIN IMMEDIATE transaction:
// a failure leaves the file exactly as it was. It writes even when nothing is missing, so a
// file that cannot be written fails here, at open, instead of at the first grant.
void migrate(connection& db);

}  // namespace gq::storage::sqlite
