// storage/sqlite/journal.cpp, integrity_check::deferred: a journal opens with cheap checks so
// that start-up does not grow with it, yet a damaged one never takes a write (so never a grant)
// and is left exactly as it was; foreign and newer files are still refused at open.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "storage/sqlite/journal.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using ::testing::HasSubstr;
using testing::make_version_1_journal;
using testing::raw_db;
using testing::read_bytes;
using testing::temp_dir;
using testing::write_bytes;

class deferred_check_test : public ::testing::Test {
 protected:
  // A journal of `rows` grants over 4 buckets, closed (its WAL checkpointed into the file).
  void make_journal(int rows) {
    sqlite_journal j(path_);
    std::vector<release_record> records;
    for (int i = 0; i < rows; ++i)
      records.push_back(
          {1000 + i, static_cast<std::uint64_t>(i), static_cast<std::uint32_t>(i % 4), 4, 0});
    j.record_releases(records);
  }

  // The message of the journal_error `call` throws, or "" when it does not throw.
  template <class Call>
  static std::string error_of(Call call) {
    try {
      call();
    } catch (const journal_error& e) {
      return e.what();
    }
    return "";
  }

  sqlite_journal open_deferred() {
    return sqlite_journal(path_, durability::normal, integrity_check::deferred);
  }

  temp_dir dir_;
  std::string path_ = dir_.file("queue.db");
};

TEST_F(deferred_check_test, a_current_journal_opens_unverified_and_writes_only_after_verify) {
  make_journal(100);
  const std::string before = read_bytes(path_);
  sqlite_journal j(path_, durability::normal, integrity_check::deferred);
  EXPECT_FALSE(j.verified());
  // Reads work at once: what start-up needs, and GET /history.
  const recovery_state state = j.recover();
  EXPECT_EQ(state.last_release_at, 1099);
  EXPECT_EQ(j.history({}).size(), history_filter::k_default_limit);
  // Writes wait for the check: a grant committed now could land in a damaged file.
  EXPECT_THAT(error_of([&] {
                j.record_releases(std::vector{release_record{5000, 1, 1, 4, 0}});
              }),
              HasSubstr("integrity check has not passed"));
  EXPECT_THAT(error_of([&] {
                j.record_limits({10, 10, 9000, 4, limits_source::config, 5000});
              }),
              HasSubstr("integrity check has not passed"));
  EXPECT_THAT(error_of([&] { j.prune_before(1050, 10); }),
              HasSubstr("integrity check has not passed"));
  EXPECT_EQ(read_bytes(path_), before) << "nothing was written before the check";

  j.verify();
  EXPECT_TRUE(j.verified());
  j.record_releases(std::vector{release_record{5000, 1, 1, 4, 0}});
  EXPECT_EQ(j.recover().last_release_at, 5000);
  EXPECT_EQ(j.prune_before(1050, 1000), 50u);
}

TEST_F(deferred_check_test, a_damaged_journal_is_never_written_and_verify_names_the_damage) {
  make_journal(5000);
  ASSERT_FALSE(std::filesystem::exists(path_ + "-wal"));
  std::string bytes = read_bytes(path_);
  const std::size_t page_size = 4096;
  const std::size_t pages = bytes.size() / page_size;
  ASSERT_GT(pages, 40u);
  // Garbage over a page in the middle: a leaf of the releases table or of an index, far from
  // the newest rows that opening and recovery read.
  const std::size_t damaged = pages / 2;
  for (std::size_t i = damaged * page_size; i < (damaged + 1) * page_size; ++i) bytes[i] = '\x5a';
  write_bytes(path_, bytes);

  std::string verify_error;
  {
    auto j = open_deferred();
    EXPECT_FALSE(j.verified());
    verify_error = error_of([&] { j.verify(); });
    EXPECT_FALSE(j.verified());
    EXPECT_THAT(error_of([&] {
                  j.record_releases(std::vector{release_record{9000, 1, 1, 4, 0}});
                }),
                HasSubstr("integrity check has not passed"));
    EXPECT_THAT(error_of([&] { j.prune_before(2000, 10); }),
                HasSubstr("integrity check has not passed"));
  }
  EXPECT_THAT(verify_error, HasSubstr("integrity check failed"));
  EXPECT_THAT(verify_error, HasSubstr(path_));
  EXPECT_EQ(read_bytes(path_), bytes) << "a refused journal is left exactly as it was";
}

TEST_F(deferred_check_test, foreign_and_newer_files_are_still_refused_at_open) {
  raw_db(path_).exec("CREATE TABLE notes (body TEXT)");
  EXPECT_THAT(error_of([&] { open_deferred(); }), HasSubstr("not a gateway-queue journal"));

  const std::string newer = dir_.file("newer.db");
  { const sqlite_journal created(newer); }
  raw_db(newer).exec("PRAGMA user_version = 99");
  const std::string before = read_bytes(newer);
  EXPECT_THAT(
      error_of([&] { sqlite_journal(newer, durability::normal, integrity_check::deferred); }),
      HasSubstr("schema version 99 is newer"));
  EXPECT_EQ(read_bytes(newer), before);

  const std::string text = dir_.file("text.db");
  write_bytes(text, std::string(8192, 'x'));
  EXPECT_THAT(
      error_of([&] { sqlite_journal(text, durability::normal, integrity_check::deferred); }),
      HasSubstr("file is not a database"));
  EXPECT_EQ(read_bytes(text), std::string(8192, 'x'));
}

TEST_F(deferred_check_test, a_journal_that_needs_writing_to_open_is_checked_at_open) {
  // An older schema needs a migration, a new file its tables: both are written at open, so both
  // are checked before, as with integrity_check::at_open.
  make_version_1_journal(path_);
  auto migrated = open_deferred();
  EXPECT_TRUE(migrated.verified());
  EXPECT_EQ(migrated.schema_version(), sqlite_journal::k_schema_version);

  const sqlite_journal created(dir_.file("new.db"), durability::normal, integrity_check::deferred);
  EXPECT_TRUE(created.verified());
}

TEST_F(deferred_check_test, verify_fails_while_another_connection_holds_the_write_lock) {
  make_journal(10);
  auto j = open_deferred();
  raw_db other(path_);
  other.exec("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE");
  // Proving the file writable is part of the check: a journal that cannot be written is
  // refused now, not at the first grant (after the busy timeout).
  EXPECT_THAT(error_of([&] { j.verify(); }), HasSubstr("locked"));
  EXPECT_FALSE(j.verified());
  other.exec("ROLLBACK");
  j.verify();
  EXPECT_TRUE(j.verified());
}

}  // namespace
}  // namespace gq::storage
