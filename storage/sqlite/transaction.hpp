#pragma once
// Transactions. Every write to the journal file, from either connection, starts with
// BEGIN IMMEDIATE: it takes the write lock up front, through the busy timeout, so that a write
// never fails half-way because another connection committed between its read and its write
// (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not cover).

#include "storage/sqlite/connection.hpp"
#include "storage/sqlite/statement.hpp"

namespace gq::storage::sqlite {

// BEGIN IMMEDIATE / BEGIN / COMMIT / ROLLBACK, prepared once per connection.
struct transaction_statements {
  explicit transaction_statements(connection& db);

  connection* db;
  statement begin;
  statement begin_read;
  statement commit;
  statement rollback;
};

// Invariant: unless commit() returned, the transaction is rolled back when this is destroyed,
// so a throw anywhere inside leaves nothing of it in the file and the connection ready for the
// next transaction.
class transaction {
 public:
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

  // Throws journal_error; the destructor then rolls back.
  void commit();

 protected:
  transaction(transaction_statements& statements, statement& begin);
  ~transaction();

 private:
  transaction_statements* statements_;
  bool committed_ = false;
};

// BEGIN IMMEDIATE: holds the write lock from the start.
class write_transaction : public transaction {
 public:
  // Throws journal_error when the write lock cannot be had (busy timeout, read-only file).
  explicit write_transaction(transaction_statements& statements)
      : transaction(statements, statements.begin) {}
};

// BEGIN (deferred), for reads only: every read inside sees one snapshot of the file (WAL), and no
// lock is taken that a writer on another connection would wait for.
class read_transaction : public transaction {
 public:
  explicit read_transaction(transaction_statements& statements)
      : transaction(statements, statements.begin_read) {}
};

}  // namespace gq::storage::sqlite
