#include "storage/sqlite/statement.hpp"

#include <utility>

namespace gq::storage::sqlite {

statement::statement(connection& db, std::string_view sql, std::string what)
    : db_(&db), what_(std::move(what)) {
  sqlite3_stmt* raw = nullptr;
  // PERSISTENT: the statement lives as long as the connection, so SQLite may place it in memory
  // that is not meant for short-lived allocations.
  const int rc = sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  stmt_.reset(raw);
  if (rc != SQLITE_OK) db.fail("preparing the statement for " + what_);
}

statement_use::~statement_use() {
  // sqlite3_reset repeats the last step's error code; that error was already reported by step().
  sqlite3_reset(raw());
  sqlite3_clear_bindings(raw());
}

void statement_use::check_bind(int rc) const {
  if (rc != SQLITE_OK) owner_->db_->fail(owner_->what_);
}

statement_use& statement_use::bind_int(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(raw(), index, value));
  return *this;
}

statement_use& statement_use::bind_null(int index) {
  check_bind(sqlite3_bind_null(raw(), index));
  return *this;
}

statement_use& statement_use::bind_text(int index, std::string_view value) {
  check_bind(sqlite3_bind_text(raw(), index, value.data(), static_cast<int>(value.size()),
                               SQLITE_TRANSIENT));
  return *this;
}

bool statement_use::step() {
  const int rc = sqlite3_step(raw());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  owner_->db_->fail(owner_->what_);
}

void statement_use::run() {
  if (step()) owner_->db_->fail(owner_->what_, "the statement returned a row");
}

std::int64_t statement_use::integer(int column) const {
  return sqlite3_column_int64(raw(), column);
}

bool statement_use::is_null(int column) const {
  return sqlite3_column_type(raw(), column) == SQLITE_NULL;
}

std::string statement_use::text(int column) const {
  const auto* chars = reinterpret_cast<const char*>(sqlite3_column_text(raw(), column));
  return std::string(chars != nullptr ? chars : "");
}

}  // namespace gq::storage::sqlite
