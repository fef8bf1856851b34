#include "load/journal_rows.hpp"

#include <sqlite3.h>

namespace gq::bench {

std::optional<std::vector<journal_row>> read_journal(const std::string& path, std::string& err) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    err = db ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return std::nullopt;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT id, released_at, shard, bucket, max_concurrency, waited_ms FROM releases ORDER BY id";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    err = sqlite3_errmsg(db);
    sqlite3_close(db);
    return std::nullopt;
  }
  std::vector<journal_row> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    journal_row r{};
    r.id = sqlite3_column_int64(st, 0);
    r.released_at = sqlite3_column_int64(st, 1);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) r.shard = sqlite3_column_int64(st, 2);
    r.bucket = sqlite3_column_int64(st, 3);
    r.max_concurrency = sqlite3_column_int64(st, 4);
    r.waited_ms = sqlite3_column_int64(st, 5);
    rows.push_back(r);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

}  // namespace gq::bench
