#pragma once
// Write transactions. Every write to the journal file, from either connection, starts with
// BEGIN IMMEDIATE: it takes the write lock up front, through the busy timeout, so that a write
// never fails half-way because another connection committed between its read and its write
// (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not cover).

#include "storage/connection.hpp"
#include "storage/statement.hpp"

namespace gq::storage::detail {

// BEGIN IMMEDIATE / COMMIT / ROLLBACK, prepared once per connection.
struct transaction_statements {
  explicit transaction_statements(connection& db);

  connection* db;
  statement begin;
  statement commit;
  statement rollback;
};

// Invariant: unless commit() returned, the transaction is rolled back when this is destroyed,
// so a throw anywhere inside leaves nothing of it in the file and the connection ready for the
// next transaction.
class write_transaction {
 public:
  // Throws journal_error when the write lock cannot be had (busy timeout, read-only file).
  explicit write_transaction(transaction_statements& statements);
  ~write_transaction();
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;

  // Throws journal_error; the destructor then rolls back.
  void commit();

 private:
  transaction_statements* statements_;
  bool committed_ = false;
};

}  // namespace gq::storage::detail
