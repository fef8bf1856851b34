// History queries and retention pruning on both backends (filters, order, batches), and which
// files the SQLite reader (storage/sqlite/history.cpp) refuses.

#include "storage/sqlite/history.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "storage/sqlite/journal.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::raw_db;
using testing::temp_dir;

release_record grant(unix_ms at, shard_id shard, std::int64_t waited_ms = 0) {
  return {at, shard, 0, 1, waited_ms};
}

// released_at of each record, in order.
std::vector<unix_ms> times(const std::vector<release_record>& records) {
  std::vector<unix_ms> result;
  for (const auto& record : records) result.push_back(record.released_at);
  return result;
}

std::vector<shard_id> shards(const std::vector<release_record>& records) {
  std::vector<shard_id> result;
  for (const auto& record : records) result.push_back(record.shard);
  return result;
}

// One suite, two backends: the journal's history() and prune_before() on a SQLite file and on a
// PostgreSQL database.
class history_test : public ::testing::TestWithParam<testing::backend> {
 protected:
  void SetUp() override {
    // Journal order differs from time order on purpose; 200 appears twice (shards 2 then 3).
    journal_->record_releases(std::vector{grant(300, 1), grant(100, 1), grant(200, 2),
                                          grant(200, 3), grant(400, std::nullopt), grant(500, 1)});
  }

  testing::journal_place place_{GetParam()};
  std::unique_ptr<journal> journal_ = place_.open();
};

INSTANTIATE_TEST_SUITE_P(backends, history_test,
                         ::testing::Values(testing::backend::sqlite, testing::backend::postgresql),
                         testing::backend_name);

TEST_P(history_test, newest_first_with_equal_times_newest_journaled_first) {
  const auto all = journal_->history({});
  EXPECT_THAT(times(all), ElementsAre(500, 400, 300, 200, 200, 100));
  EXPECT_EQ(all[3].shard, 3u);
  EXPECT_EQ(all[4].shard, 2u);
}

TEST_P(history_test, shard_filter_returns_only_that_shard) {
  history_filter filter;
  filter.shard = 1;
  EXPECT_THAT(times(journal_->history(filter)), ElementsAre(500, 300, 100));
  filter.shard = 9;
  EXPECT_TRUE(journal_->history(filter).empty());
  filter.shard = k_max_stored_integer;
  EXPECT_TRUE(journal_->history(filter).empty());
}

// The bounds are history_filter_problem()'s, as for GET /history: nothing the API refuses reaches
// SQL, and nothing it accepts is refused here.
TEST_P(history_test, filter_outside_the_api_bounds_is_refused_with_the_api_message) {
  history_filter filter;
  filter.shard = k_max_stored_integer + 1;
  EXPECT_THROW(
      try { journal_->history(filter); } catch (const journal_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("shard must be a decimal integer from 0 to"));
        throw;
      },
      journal_error);
  filter = {};
  filter.since = 6;
  filter.until = 5;
  EXPECT_THROW(journal_->history(filter), journal_error);
  filter = {};
  filter.since = -1;
  EXPECT_THROW(journal_->history(filter), journal_error);
}

TEST_P(history_test, since_and_until_are_inclusive) {
  history_filter filter;
  filter.since = 200;
  EXPECT_THAT(times(journal_->history(filter)), ElementsAre(500, 400, 300, 200, 200));
  filter.since = std::nullopt;
  filter.until = 300;
  EXPECT_THAT(times(journal_->history(filter)), ElementsAre(300, 200, 200, 100));
  filter.since = 200;
  EXPECT_THAT(times(journal_->history(filter)), ElementsAre(300, 200, 200));
  filter.since = 201;
  filter.until = 299;
  EXPECT_TRUE(journal_->history(filter).empty());
  filter.since = 301;
  filter.until = 300;
  EXPECT_THROW(journal_->history(filter), journal_error)
      << "since after until, as GET /history says";
}

TEST_P(history_test, filters_combine) {
  history_filter filter;
  filter.shard = 1;
  filter.since = 200;
  filter.until = 400;
  EXPECT_THAT(times(journal_->history(filter)), ElementsAre(300));
}

TEST_P(history_test, absent_shard_is_returned_as_none) {
  EXPECT_THAT(shards(journal_->history({})), ElementsAre(1u, std::nullopt, 1u, 3u, 2u, 1u));
}

TEST_P(history_test, limit_keeps_the_newest_rows) {
  history_filter filter;
  filter.limit = 2;
  EXPECT_THAT(times(journal_->history(filter)), ElementsAre(500, 400));
  filter.limit = 1;
  EXPECT_THAT(times(journal_->history(filter)), ElementsAre(500));
}

TEST_P(history_test, limit_outside_1_to_the_maximum_is_refused) {
  std::vector<release_record> many(history_filter::k_max_limit + 10, grant(1000, 5));
  journal_->record_releases(many);
  history_filter filter;
  EXPECT_EQ(journal_->history(filter).size(), history_filter::k_default_limit);
  filter.limit = history_filter::k_max_limit;
  EXPECT_EQ(journal_->history(filter).size(), history_filter::k_max_limit);
  for (const std::uint32_t limit : {0u, history_filter::k_max_limit + 1}) {
    filter.limit = limit;
    EXPECT_THROW(
        try { journal_->history(filter); } catch (const journal_error& e) {
          EXPECT_THAT(e.what(), HasSubstr("limit must be between 1 and 10000"));
          throw;
        },
        journal_error)
        << limit;
  }
}

TEST_P(history_test, prune_deletes_only_older_rows_in_batches) {
  std::vector<release_record> old_rows(2500, grant(50, 8));
  journal_->record_releases(old_rows);
  // 2500 at 50 and one at 100 are before 200; the two at 200 stay (cutoff is exclusive).
  EXPECT_EQ(journal_->prune_before(200, 1000), 1000u);
  EXPECT_EQ(journal_->prune_before(200, 1000), 1000u);
  EXPECT_EQ(journal_->prune_before(200, 1000), 501u);
  EXPECT_EQ(journal_->prune_before(200, 1000), 0u);
  EXPECT_THAT(times(journal_->history({})), ElementsAre(500, 400, 300, 200, 200));
}

TEST_P(history_test, prune_leaves_the_journal_writable) {
  EXPECT_EQ(journal_->prune_before(1000, 1000), 6u);
  journal_->record_releases(std::vector{grant(2000, 4)});
  EXPECT_EQ(journal_->count_releases_since(0), 1u);
}

TEST_P(history_test, prune_refuses_an_empty_batch) {
  EXPECT_THROW(journal_->prune_before(1000, 0), journal_error);
  EXPECT_EQ(journal_->count_releases_since(0), 6u);
}

// The SQLite reader (storage/sqlite/history.hpp) alone: locking and which files it refuses.
class sqlite_history_test : public ::testing::Test {
 protected:
  void SetUp() override {
    // Journal order differs from time order on purpose; 200 appears twice (shards 2 then 3).
    journal_.record_releases(std::vector{grant(300, 1), grant(100, 1), grant(200, 2), grant(200, 3),
                                         grant(400, std::nullopt), grant(500, 1)});
  }

  std::string open_error(const std::string& path) {
    try {
      history h(path);
    } catch (const journal_error& error) {
      return error.what();
    }
    return "";
  }

  temp_dir dir_;
  std::string path_ = dir_.file("queue.db");
  sqlite_journal journal_{path_};
  history history_{path_};
};

TEST_F(sqlite_history_test, reads_while_the_writer_holds_an_open_transaction) {
  raw_db writer(path_);
  writer.exec("BEGIN IMMEDIATE");
  writer.exec("INSERT INTO releases (released_at, shard, bucket) VALUES (900, 9, 0)");
  // WAL: the reader sees the last commit at once instead of waiting for the lock.
  EXPECT_EQ(history_.query({}).size(), 6u);
  writer.exec("COMMIT");
  EXPECT_EQ(history_.query({}).front().released_at, 900);
}

TEST_F(sqlite_history_test, missing_file_is_refused_and_not_created) {
  const std::string path = dir_.file("missing.db");
  EXPECT_THAT(open_error(path), AllOf(HasSubstr(path), HasSubstr("unable to open")));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(sqlite_history_test, non_journal_files_are_refused) {
  const std::string text_file = dir_.file("notes.txt");
  testing::write_bytes(text_file, std::string(8192, 'x'));
  EXPECT_THAT(open_error(text_file), HasSubstr("file is not a database"));

  const std::string empty_db = dir_.file("empty.db");
  testing::write_bytes(empty_db, "");
  EXPECT_THAT(open_error(empty_db), HasSubstr("not a gateway-queue journal"));

  const std::string foreign = dir_.file("foreign.db");
  raw_db(foreign).exec("CREATE TABLE users (id INTEGER PRIMARY KEY)");
  EXPECT_THAT(open_error(foreign), HasSubstr("not a gateway-queue journal"));
}

TEST_F(sqlite_history_test, newer_and_older_schemas_are_refused) {
  const std::string newer = dir_.file("newer.db");
  { const sqlite_journal created(newer); }
  raw_db(newer).exec("PRAGMA user_version = 7");
  EXPECT_THAT(open_error(newer), HasSubstr("schema version 7 is newer"));

  const std::string older = dir_.file("older.db");
  raw_db(older).exec(
      "CREATE TABLE releases (id INTEGER PRIMARY KEY, released_at INTEGER NOT NULL, "
      "shard INTEGER NULL, bucket INTEGER NOT NULL); PRAGMA user_version = 1");
  EXPECT_THAT(open_error(older), HasSubstr("schema version 1 is older"));
  EXPECT_EQ(raw_db(older).scalar("PRAGMA user_version"), "1");
}

}  // namespace
}  // namespace gq::storage
