#pragma once
// Prepared statements that live as long as their connection, and the scope guard that resets one
// after each use (the pattern of zeek/broker's sqlite_backend.cc): a statement is compiled once at
// open and every later call only binds, steps and resets.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "storage/sqlite/connection.hpp"

namespace gq::storage::sqlite {

class statement_use;

class statement {
 public:
  // Compiles `sql` on `db`, which must outlive the statement. `what` names the operation in
  // error messages ("recording grants").
  statement(connection& db, std::string_view sql, std::string what);

  // Starts one execution; the returned guard resets the statement when it goes out of scope.
  statement_use use();

 private:
  friend class statement_use;
  struct finalizer {
    void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
  };

  connection* db_;
  std::string what_;
  std::unique_ptr<sqlite3_stmt, finalizer> stmt_;
};

// One execution of a statement. Invariant: when it is destroyed, normally or by an exception, the
// statement is reset and its bindings cleared, so the next use starts clean and no read
// transaction is left open by a half-stepped SELECT.
class statement_use {
 public:
  explicit statement_use(statement& owner) noexcept : owner_(&owner) {}
  ~statement_use();
  statement_use(const statement_use&) = delete;
  statement_use& operator=(const statement_use&) = delete;

  // Parameters by 1-based index (?1, ?2, ...).
  statement_use& bind_int(int index, std::int64_t value);
  statement_use& bind_null(int index);
  statement_use& bind_text(int index, std::string_view value);

  // true: a row is ready to read; false: done. Throws journal_error on any other outcome.
  bool step();
  // Steps a statement that returns no rows.
  void run();

  // The current row's columns, by 0-based index: a row as storage/sql.hpp's decoders read it.
  std::int64_t integer(int column) const;
  bool is_null(int column) const;
  std::string text(int column) const;

 private:
  sqlite3_stmt* raw() const noexcept { return owner_->stmt_.get(); }
  void check_bind(int rc) const;

  statement* owner_;
};

inline statement_use statement::use() { return statement_use(*this); }

}  // namespace gq::storage::sqlite
