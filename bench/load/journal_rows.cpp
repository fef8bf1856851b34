#include "load/journal_rows.hpp"

#include <sqlite3.h>

#include <algorithm>

#include "storage/journal.hpp"

namespace gq::bench {

namespace {

// history() returns at most history_filter::k_max_limit rows, newest first (ties: the later
// journaled first). Pages walk back with `until` = the oldest released_at seen so far; the rows
// of that instant already taken are the first ones of the next page (same order), so they are
// skipped by count.
std::optional<std::vector<journal_row>> read_postgres(const std::string& uri, std::string& err) {
  try {
    // Deferred check on a current journal: nothing is migrated or written, reads only.
    const auto journal = storage::open_journal(
        uri, {storage::durability::normal, storage::integrity_check::deferred, false});
    std::vector<release_record> newest_first;
    history_filter filter;
    filter.limit = history_filter::k_max_limit;
    std::size_t seen_at_until = 0;
    for (;;) {
      const auto page = journal->history(filter);
      if (page.size() <= seen_at_until) break;
      newest_first.insert(newest_first.end(), page.begin() + seen_at_until, page.end());
      if (page.size() < filter.limit) break;
      const unix_ms oldest = page.back().released_at;
      if (filter.until && *filter.until == oldest) {
        err = "more than " + std::to_string(filter.limit) + " rows at released_at " +
              std::to_string(oldest) + "; cannot page through them";
        return std::nullopt;
      }
      filter.until = oldest;
      seen_at_until = static_cast<std::size_t>(
          std::count_if(page.begin(), page.end(),
                        [oldest](const release_record& r) { return r.released_at == oldest; }));
    }
    std::vector<journal_row> rows;
    rows.reserve(newest_first.size());
    std::int64_t position = 0;
    for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
      journal_row r{};
      r.id = ++position;
      r.released_at = it->released_at;
      if (it->shard) r.shard = static_cast<std::int64_t>(*it->shard);
      r.bucket = it->bucket;
      r.bot = it->bot;
      r.max_concurrency = it->max_concurrency;
      r.waited_ms = it->waited_ms;
      rows.push_back(r);
    }
    return rows;
  } catch (const std::exception& e) {
    err = e.what();
    return std::nullopt;
  }
}

}  // namespace

std::optional<std::vector<journal_row>> read_journal(const std::string& location,
                                                     std::string& err) {
  if (storage::is_postgres_location(location)) return read_postgres(location, err);
  const std::string& path = location;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    err = db ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return std::nullopt;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT id, released_at, shard, bucket, max_concurrency, waited_ms, bot FROM releases "
      "ORDER BY id";
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
    if (const auto* bot = sqlite3_column_text(st, 6)) r.bot = reinterpret_cast<const char*>(bot);
    rows.push_back(r);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

}  // namespace gq::bench
