#include "storage/sqlite/transaction.hpp"

namespace gq::storage::sqlite {

transaction_statements::transaction_statements(connection& conn)
    : db(&conn),
      begin(conn, "BEGIN IMMEDIATE", "starting a write transaction"),
      begin_read(conn, "BEGIN", "starting a read transaction"),
      commit(conn, "COMMIT", "committing"),
      rollback(conn, "ROLLBACK", "rolling back") {}

transaction::transaction(transaction_statements& statements, statement& begin)
    : statements_(&statements) {
  // A ROLLBACK that failed in an earlier destructor left its transaction open; end it here so
  // one bad moment does not stop every later write.
  if (sqlite3_get_autocommit(statements_->db->get()) == 0) statements_->rollback.use().run();
  begin.use().run();
}

transaction::~transaction() {
  // SQLite may already have rolled back by itself (SQLITE_FULL, some I/O errors); a ROLLBACK
  // without a transaction would fail, so ask first.
  if (committed_ || sqlite3_get_autocommit(statements_->db->get()) != 0) return;
  try {
    statements_->rollback.use().run();
  } catch (...) {
    // Nothing uncommitted ever becomes visible: frames of an uncommitted transaction are never
    // read back from the WAL. Should ROLLBACK itself fail, the next write_transaction retries
    // it before its BEGIN. A destructor must not throw.
  }
}

void transaction::commit() {
  statements_->commit.use().run();
  committed_ = true;
}

}  // namespace gq::storage::sqlite
