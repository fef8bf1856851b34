// storage/sqlite/journal.cpp, opening: every file the journal cannot safely use is refused at open,
// loudly (the message names the file and the reason), and left exactly as it was.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/sqlite/journal.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::raw_db;
using testing::read_bytes;
using testing::temp_dir;
using testing::write_bytes;

class journal_open_test : public ::testing::Test {
 protected:
  // The journal_error message of opening `path`, or "" when it opened.
  static std::string open_error(const std::string& path) {
    try {
      sqlite_journal j(path);
    } catch (const journal_error& error) {
      return error.what();
    }
    return "";
  }

  std::vector<std::string> dir_entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // Opens the journal in a child process and expects a refusal naming the file and `reason`.
  // Root writes through file and directory modes, so when this test runs as root the child
  // first drops to nobody.
  void expect_refused_unprivileged(const std::string& reason) {
    const pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
      if (geteuid() == 0 && (setgid(k_nobody) != 0 || setuid(k_nobody) != 0)) _exit(3);
      const std::string error = open_error(path_);
      if (error.empty()) _exit(1);
      std::fprintf(stderr, "child: %s\n", error.c_str());
      const bool loud =
          error.find(path_) != std::string::npos && error.find(reason) != std::string::npos;
      _exit(loud ? 0 : 2);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 3) GTEST_SKIP() << "cannot drop root privileges here";
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "1: the journal opened; 2: the message lacks the path or \"" << reason << "\"";
  }

  static constexpr uid_t k_nobody = 65534;
  temp_dir dir_;
  std::string path_ = dir_.file("queue.db");
};

TEST_F(journal_open_test, missing_directory_is_refused_naming_the_path) {
  const std::string path = dir_.file("no/such/dir/queue.db");
  EXPECT_THAT(open_error(path), AllOf(HasSubstr(path), HasSubstr("unable to open database file"),
                                      HasSubstr("No such file or directory")));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("no")));
}

TEST_F(journal_open_test, directory_instead_of_file_is_refused) {
  std::filesystem::create_directory(path_);
  EXPECT_THAT(open_error(path_), HasSubstr(path_));
}

TEST_F(journal_open_test, non_database_file_is_refused_and_left_byte_for_byte_unchanged) {
  std::string text;
  for (int line = 0; line < 200; ++line) text += "queue settings, not a database\n";
  write_bytes(path_, text);
  EXPECT_THAT(open_error(path_), AllOf(HasSubstr(path_), HasSubstr("file is not a database")));
  EXPECT_EQ(read_bytes(path_), text);
  EXPECT_THAT(dir_entries(), ::testing::ElementsAre("queue.db"));
}

TEST_F(journal_open_test, tiny_non_database_file_is_refused_and_left_unchanged) {
  write_bytes(path_, "hello\n");
  EXPECT_THAT(open_error(path_), HasSubstr("file is not a database"));
  EXPECT_EQ(read_bytes(path_), "hello\n");
}

TEST_F(journal_open_test, foreign_sqlite_database_is_refused_and_left_unchanged) {
  {
    raw_db other(path_);
    other.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
    other.exec("INSERT INTO users (name) VALUES ('ada')");
  }
  const std::string before = read_bytes(path_);
  EXPECT_THAT(open_error(path_), AllOf(HasSubstr(path_), HasSubstr("not a gateway-queue journal")));
  EXPECT_EQ(read_bytes(path_), before);
  EXPECT_EQ(raw_db(path_).scalar("PRAGMA journal_mode"), "delete");
}

TEST_F(journal_open_test, newer_schema_is_refused_naming_its_version) {
  sqlite_journal(path_).record_releases(std::vector{release_record{1, 1, 0, 1, 0}});
  raw_db(path_).exec("PRAGMA user_version = 6");
  const std::string before = read_bytes(path_);
  EXPECT_THAT(open_error(path_),
              AllOf(HasSubstr(path_), HasSubstr("schema version 6 is newer than this build's 5")));
  EXPECT_EQ(read_bytes(path_), before);
}

TEST_F(journal_open_test, corrupt_journal_is_refused_and_left_unchanged) {
  {
    sqlite_journal j(path_);
    std::vector<release_record> records;
    for (int i = 0; i < 2000; ++i) records.push_back({i, static_cast<std::uint64_t>(i), 0, 1, 0});
    j.record_releases(records);
  }
  // Closing the last connection checkpointed the WAL: every row is in the main file now.
  ASSERT_FALSE(std::filesystem::exists(path_ + "-wal"));
  std::string bytes = read_bytes(path_);
  const std::size_t page_size = 4096;
  ASSERT_GT(bytes.size(), 4 * page_size);
  // Garbage over the third page: a b-tree page of the releases table or an index.
  for (std::size_t i = 2 * page_size; i < 3 * page_size; ++i) bytes[i] = '\x5a';
  write_bytes(path_, bytes);
  EXPECT_THAT(open_error(path_), HasSubstr(path_));
  EXPECT_EQ(read_bytes(path_), bytes);
}

TEST_F(journal_open_test, read_only_file_is_refused_at_open) {
  sqlite_journal(path_).record_releases(std::vector{release_record{1, 1, 0, 1, 0}});
  ASSERT_EQ(chmod(path_.c_str(), 0444), 0);
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);  // readable by nobody, writable by the owner
  expect_refused_unprivileged("read-only");
}

TEST_F(journal_open_test, unwritable_directory_is_refused_at_open) {
  // The WAL and its index live next to the journal: in a directory that refuses new files every
  // commit would fail, so the journal must fail at open.
  sqlite_journal(path_).record_releases(std::vector{release_record{1, 1, 0, 1, 0}});
  ASSERT_EQ(chmod(path_.c_str(), 0666), 0);
  ASSERT_EQ(chmod(dir_.path().c_str(), 0555), 0);
  expect_refused_unprivileged("readonly database");
}

TEST_F(journal_open_test, open_fails_while_another_connection_holds_the_write_lock) {
  sqlite_journal(path_).record_releases(std::vector{release_record{1, 1, 0, 1, 0}});
  raw_db other(path_);
  other.exec("BEGIN IMMEDIATE");
  // Waits out the 5 s busy timeout: the write at open is what catches an unwritable journal.
  EXPECT_THAT(open_error(path_), AllOf(HasSubstr(path_), HasSubstr("database is locked")));
  other.exec("ROLLBACK");
  EXPECT_EQ(open_error(path_), "");
}

}  // namespace
}  // namespace gq::storage
