#pragma once
// Shared by the storage tests: a temporary directory and a raw SQLite connection for
// arranging and inspecting files behind the journal's back, and the two backends that the one
// journal suite runs on (backend, journal_place).

#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/journal.hpp"
#include "support/postgres_server.hpp"

namespace gq::storage::testing {

// A fresh directory under /tmp, removed with everything in it at the end of the test.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = "/tmp/gq-storage-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    // Tests may have made things read-only; removal needs them writable again.
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path_, ignored)) {
      std::filesystem::permissions(entry.path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ignored);
    }
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// The message of the journal_error `action` throws; "" when it throws none.
inline std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const journal_error& error) {
    return error.what();
  }
  return "";
}

// A plain connection for tests: arranges old layouts, injects faults, reads what is on disk.
class raw_db {
 public:
  explicit raw_db(const std::string& path, int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string reason = sqlite3_errmsg(db_);
      sqlite3_close_v2(db_);
      throw std::runtime_error("raw_db open: " + reason);
    }
  }
  ~raw_db() { sqlite3_close_v2(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  void exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      std::string reason = error != nullptr ? error : "?";
      sqlite3_free(error);
      throw std::runtime_error("raw_db exec: " + reason + " in: " + sql);
    }
  }

  // Every row of `sql`, each column as text ("NULL" for null).
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("raw_db prepare: ") + sqlite3_errmsg(db_));
    }
    std::vector<std::vector<std::string>> result;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      auto& row = result.emplace_back();
      for (int column = 0; column < sqlite3_column_count(stmt); ++column) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
        row.emplace_back(text != nullptr ? text : "NULL");
      }
    }
    sqlite3_finalize(stmt);
    return result;
  }

  std::string scalar(const std::string& sql) {
    auto all = rows(sql);
    return all.empty() || all.front().empty() ? "" : all.front().front();
  }

 private:
  sqlite3* db_ = nullptr;
};

// Written out by hand rather than taken from sqlite/schema.cpp: this is what the previous
// release left on disk, and it must not change when the migration list does.
inline void make_version_1_journal(const std::string& path) {
  raw_db db(path);
  db.exec(R"sql(
    PRAGMA journal_mode = WAL;
    CREATE TABLE releases (
      id INTEGER PRIMARY KEY,
      released_at INTEGER NOT NULL,
      shard INTEGER NULL,
      bucket INTEGER NOT NULL
    );
    CREATE INDEX releases_by_released_at ON releases(released_at);
    CREATE INDEX releases_by_shard ON releases(shard, released_at);
    INSERT INTO releases (released_at, shard, bucket) VALUES (1000, 3, 0), (2000, NULL, 0);
    PRAGMA user_version = 1;
  )sql");
}

// The backends every backend-independent journal test runs on.
enum class backend { sqlite, postgresql };

inline std::string backend_name(const ::testing::TestParamInfo<backend>& info) {
  return info.param == backend::sqlite ? "sqlite" : "postgresql";
}

// For GoogleTest's messages ("where GetParam() = postgresql").
inline void PrintTo(backend kind, std::ostream* out) {
  *out << (kind == backend::sqlite ? "sqlite" : "postgresql");
}

// Where one test's journal lives: a file in a fresh directory, or a fresh database of the binary's
// PostgreSQL cluster. Construction throws (and the test fails, never skips) when PostgreSQL
// cannot be started. rows() and exec() read and arrange behind the journal's back with SQL that
// both backends understand.
class journal_place {
 public:
  explicit journal_place(backend kind) : kind_(kind) {
    if (kind_ == backend::sqlite) {
      location_ = dir_.file("queue.db");
    } else {
      postgres_ = &gq::testing::postgres_server::shared();
      database_ = postgres_->create_database();
      location_ = postgres_->uri(database_);
    }
  }

  backend kind() const { return kind_; }
  const std::string& location() const { return location_; }
  std::unique_ptr<journal> open(durability mode = durability::full,
                                integrity_check check = integrity_check::at_open) const {
    return open_journal(location_, {mode, check});
  }

  // Every row of `sql`, each column as text ("NULL" for null); booleans are not portable.
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    if (kind_ == backend::sqlite) return raw_db(location_).rows(sql);
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(location_.c_str()), &PQfinish);
    std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()), &PQclear);
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("rows: " + std::string(PQerrorMessage(conn.get())) + " in: " + sql);
    }
    std::vector<std::vector<std::string>> all;
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      auto& out = all.emplace_back();
      for (int column = 0; column < PQnfields(result.get()); ++column) {
        out.emplace_back(PQgetisnull(result.get(), row, column) != 0
                             ? "NULL"
                             : PQgetvalue(result.get(), row, column));
      }
    }
    return all;
  }
  void exec(const std::string& sql) {
    if (kind_ == backend::sqlite) {
      raw_db(location_).exec(sql);
    } else {
      postgres_->admin(sql, database_);
    }
  }

  // Makes every later write of a grant with shard 666 fail inside the journal's transaction,
  // after the rows before it in the batch went in; undo_failure() removes it.
  void inject_failure_on_shard_666() {
    if (kind_ == backend::sqlite) {
      exec(
          "CREATE TRIGGER fail_on_shard_666 BEFORE INSERT ON releases WHEN NEW.shard = 666 "
          "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END");
    } else {
      exec(
          "CREATE FUNCTION fail_on_shard_666() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "RAISE EXCEPTION 'injected write failure'; END $$; "
          "CREATE TRIGGER fail_on_shard_666 BEFORE INSERT ON releases FOR EACH ROW "
          "WHEN (NEW.shard = 666) EXECUTE FUNCTION fail_on_shard_666()");
    }
  }
  void undo_failure() {
    exec(kind_ == backend::sqlite ? "DROP TRIGGER fail_on_shard_666"
                                  : "DROP TRIGGER fail_on_shard_666 ON releases");
  }

 private:
  backend kind_;
  temp_dir dir_;
  gq::testing::postgres_server* postgres_ = nullptr;
  std::string database_;
  std::string location_;
};

}  // namespace gq::storage::testing
