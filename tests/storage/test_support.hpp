#pragma once
// Shared by the storage tests: a temporary directory and a raw SQLite connection for
// arranging and inspecting files behind the journal's back.

#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

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

// Written out by hand rather than taken from schema.cpp: this is what the previous release left
// on disk, and it must not change when the migration list does.
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

}  // namespace gq::storage::testing
