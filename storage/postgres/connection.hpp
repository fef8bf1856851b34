#pragma once
// One libpq connection whose every failure becomes a journal_error naming the server and database
// (never the password) and libpq's reason. Internal to storage/: the PostgreSQL journal owns a
// writer and a reader connection, and verify() one of its own.

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/core/shard.hpp"

namespace gq::storage::postgres {

// The session setting that marks the session holding the journal's lock (a custom setting needs
// a dot in its name); its value is unique to the process that took the lock.
inline constexpr const char* k_writer_mark_setting = "gateway_queue.writer";

// True for the locations the PostgreSQL journal takes: "postgresql://..." and "postgres://...".
bool is_uri(std::string_view location);

// `uri` with any password removed: the "user:password@" part and every "password=" parameter.
// What location() returns and every error names.
std::string redact_uri(std::string_view uri);

// The result of one statement; rows are read as text (libpq's text format).
class result {
 public:
  // One row, read by column: a row as storage/sql.hpp's decoders read it.
  class row_view {
   public:
    row_view(const result& owner, int index) : owner_(&owner), index_(index) {}
    std::int64_t integer(int column) const { return owner_->integer(index_, column); }
    bool is_null(int column) const { return owner_->is_null(index_, column); }
    std::string text(int column) const { return owner_->text(index_, column); }

   private:
    const result* owner_;
    int index_;
  };

  explicit result(PGresult* raw) : result_(raw) {}
  ExecStatusType status() const { return PQresultStatus(result_.get()); }
  int rows() const { return PQntuples(result_.get()); }
  row_view at(int index) const { return {*this, index}; }
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string text(int row, int column) const { return PQgetvalue(result_.get(), row, column); }
  std::int64_t integer(int row, int column) const;
  // Rows a DELETE, INSERT or UPDATE touched.
  std::uint64_t affected() const;

 private:
  struct clear {
    void operator()(PGresult* raw) const noexcept { PQclear(raw); }
  };
  std::unique_ptr<PGresult, clear> result_;
};

// A bound parameter as libpq's text format; nullopt is SQL NULL.
using parameter = std::optional<std::string>;
inline parameter param(std::int64_t value) { return std::to_string(value); }
inline parameter param(shard_id value) {
  return value ? parameter(std::to_string(*value)) : std::nullopt;
}

class connection {
 public:
  // Connects to `uri` (any libpq connection URI; the password may also come from PGPASSWORD or
  // the password file). Throws journal_error naming redact_uri(uri) and libpq's reason.
  explicit connection(const std::string& uri);

  PGconn* get() const noexcept { return conn_.get(); }
  const std::string& location() const noexcept { return location_; }

  // Every statement goes through exec or query, and so does reconnection: outside a transaction,
  // a connection the server closed (a restart) is opened anew first, its setup statements run
  // again, so the next call after a failed one works again once the server is back. Inside a
  // transaction (postgres::transaction) it never is: the session took the transaction's earlier
  // statements with it, so the statement fails instead. A connection that holds an advisory lock
  // is never replaced: its lock ended with its session, so these throw journal_error and
  // lock_lost() is true from then on.
  //
  // Runs SQL without parameters (SET, BEGIN, COMMIT, DDL; several statements allowed).
  void exec(const std::string& sql, std::string_view what);
  // Runs one statement with bound parameters $1, $2, ...: values are never spliced into SQL.
  result query(const std::string& sql, std::span<const parameter> params, std::string_view what);
  result query(const std::string& sql, std::string_view what) { return query(sql, {}, what); }

  // Throw journal_error "journal <location>: <what>: <reason>"; the first takes the reason from
  // the connection's last error. Any password is scrubbed from the reason.
  [[noreturn]] void fail(std::string_view what) const;
  [[noreturn]] void fail(std::string_view what, std::string_view reason) const;

  // Statements run after every (re)connection, e.g. "SET synchronous_commit = on".
  void add_setup(std::string sql);

  // Takes the session advisory lock `key` now; false while another session holds it (a standby
  // asks again on the same session). The lock ends with the session, and so does this
  // connection's use: whoever holds the lock is the only one that can commit.
  // With the lock taken, the session carries this process's mark (the session setting
  // gateway_queue.writer). A session that already carries another process's mark is shared with
  // it by a connection pooler in transaction or statement mode, where a session lock proves
  // nothing: this throws journal_error saying so.
  bool try_advisory_lock(std::int64_t key);
  // The mark of the session holding the lock; empty when this connection took none.
  const std::string& writer_mark() const noexcept { return writer_mark_; }
  // A round trip proving that the session behind this connection is still the one holding the
  // lock: throws journal_error, and lock_lost() is true from then on, when the session ended or
  // when it is not the one this process marked (a pooler handed this connection another one).
  void confirm_lock_holder();
  // Throws journal_error for a statement that found another session than the lock holder's;
  // lock_lost() is true from then on.
  [[noreturn]] void fail_not_lock_holder(std::string_view what);
  // The session that held the lock has ended (seen by a failed call or a reconnection refused).
  bool lock_lost() const noexcept {
    return lock_held_ && (lock_lost_ || PQstatus(conn_.get()) != CONNECTION_OK);
  }

 private:
  friend class transaction;

  // The one place a closed connection is opened anew (see exec and query).
  void reconnect_if_broken();
  // exec without reconnect_if_broken: the setup statements of a new connection.
  void run(const std::string& sql, std::string_view what);

  struct finisher {
    void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
  };
  std::unique_ptr<PGconn, finisher> conn_;
  std::string location_;
  std::vector<std::string> secrets_;  // passwords to scrub from libpq's messages
  std::vector<std::string> setup_;
  std::string writer_mark_;
  bool lock_held_ = false;
  bool lock_lost_ = false;
  bool in_transaction_ = false;  // a postgres::transaction is open on it
};

// A transaction on the writer or reader: BEGIN at construction, ROLLBACK unless commit() ran.
// One at a time on a connection.
class transaction {
 public:
  transaction(connection& db, std::string_view begin, std::string_view what);
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit();

 private:
  connection& db_;
  std::string what_;
  bool open_ = true;
};

}  // namespace gq::storage::postgres
