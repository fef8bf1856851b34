#include "storage/sqlite/connection.hpp"

#include <system_error>
#include <utility>

#include "storage/errors.hpp"

namespace gq::storage::sqlite {

std::string describe_error(sqlite3* db, int rc) {
  std::string reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  // The OS errno is only meaningful for file-system failures; elsewhere it may be stale.
  const int primary = rc & 0xff;
  if (db != nullptr && (primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR)) {
    if (const int os_error = sqlite3_system_errno(db); os_error != 0) {
      reason += " (" + std::generic_category().message(os_error) + ")";
    }
  }
  return reason;
}

connection::connection(std::string path, int flags) : path_(std::move(path)) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path_.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 hands out a handle even on failure; it must be closed either way.
  db_.reset(raw);
  if (rc != SQLITE_OK) fail("cannot open", describe_error(raw, rc));
  sqlite3_extended_result_codes(raw, 1);
}

void connection::exec(const std::string& sql, std::string_view what) {
  if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail(what);
}

namespace {

// Steps `sql` to its first row and hands the statement to `read`; nullptr when there is no row.
template <class Read>
auto query_first(connection& db, const std::string& sql, std::string_view what, Read read) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) db.fail(what);
  const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  const int rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) db.fail(what);
  if (rc == SQLITE_DONE) db.fail(what, "the query returned no row");
  return read(raw);
}

}  // namespace

std::int64_t connection::query_int(const std::string& sql, std::string_view what) {
  return query_first(*this, sql, what, [](sqlite3_stmt* s) { return sqlite3_column_int64(s, 0); });
}

std::string connection::query_text(const std::string& sql, std::string_view what) {
  return query_first(*this, sql, what, [](sqlite3_stmt* s) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    return std::string(text != nullptr ? text : "");
  });
}

void connection::fail(std::string_view what) const {
  fail(what, describe_error(db_.get(), sqlite3_extended_errcode(db_.get())));
}

void connection::fail(std::string_view what, std::string_view reason) const {
  detail::fail(path_, what, reason);
}

}  // namespace gq::storage::sqlite
