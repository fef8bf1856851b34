#pragma once
// One SQLite connection whose every failure becomes a journal_error naming the file and SQLite's
// reason. Internal to storage/: the SQLite journal and its history reader each own one.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace gq::storage::sqlite {

// How long a connection waits for another connection's write lock before failing with "database
// is locked". The journal and the history connection take turns on one file: a prune batch or a
// grant commit holds the lock for milliseconds, so 5 s is never reached unless something is
// wrong, and then the grant fails closed instead of hanging the queue.
inline constexpr int k_busy_timeout_ms = 5000;

class connection {
 public:
  // sqlite3_open_v2(path, flags); throws journal_error when SQLite cannot open the file.
  connection(std::string path, int flags);

  sqlite3* get() const noexcept { return db_.get(); }
  const std::string& path() const noexcept { return path_; }

  // Runs SQL that yields no rows of interest (pragmas that set, DDL, several statements).
  void exec(const std::string& sql, std::string_view what);

  // Runs a query and returns the first column of its first row (pragmas that read).
  std::int64_t query_int(const std::string& sql, std::string_view what);
  std::string query_text(const std::string& sql, std::string_view what);

  // Throw journal_error "journal <path>: <what>: <reason>"; the first takes the reason from the
  // connection's last error.
  [[noreturn]] void fail(std::string_view what) const;
  [[noreturn]] void fail(std::string_view what, std::string_view reason) const;

 private:
  struct closer {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
  };

  std::string path_;
  std::unique_ptr<sqlite3, closer> db_;
};

// SQLite's reason for the last failure on `db`, with the OS error when the failure came from the
// file system (open, read, write, fsync), so "unable to open database file" says why.
std::string describe_error(sqlite3* db, int rc);

}  // namespace gq::storage::sqlite
