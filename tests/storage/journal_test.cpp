// The journal interface on both backends (storage/sqlite/journal.cpp,
// storage/postgres/journal.cpp): what is written, what recover() and count_releases_since() read
// back, and that a failed write leaves nothing behind and the journal usable. SQLite's locking and
// file format: the sqlite_journal_test cases at the end.

#include "storage/sqlite/journal.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "storage/sqlite/history.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::raw_db;
using testing::temp_dir;

release_record grant(unix_ms at, shard_id shard, std::uint32_t bucket = 0,
                     std::uint32_t max_concurrency = 1, std::int64_t waited_ms = 0) {
  return {at, shard, bucket, max_concurrency, waited_ms};
}

// One suite, two backends: every TEST_P runs on a SQLite file and on a PostgreSQL database.
class journal_test : public ::testing::TestWithParam<testing::backend> {
 protected:
  testing::journal_place place_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(backends, journal_test,
                         ::testing::Values(testing::backend::sqlite, testing::backend::postgresql),
                         testing::backend_name);

TEST_P(journal_test, new_journal_is_at_the_current_schema_version_and_named_by_its_location) {
  const auto j = place_.open();
  EXPECT_EQ(j->schema_version(), sqlite_journal::k_schema_version);
  EXPECT_EQ(j->location(), place_.location());
  EXPECT_TRUE(j->verified());
}

TEST_P(journal_test, grants_round_trip_with_every_column) {
  const std::vector<release_record> records{grant(1000, 7, 1, 2, 250), grant(2000, std::nullopt)};
  {
    const auto j = place_.open();
    j->record_releases(records);
  }
  EXPECT_THAT(place_.rows("SELECT released_at, shard, bucket, max_concurrency, waited_ms "
                          "FROM releases ORDER BY id"),
              ElementsAre(ElementsAre("1000", "7", "1", "2", "250"),
                          ElementsAre("2000", "NULL", "0", "1", "0")));
  EXPECT_THAT(place_.open()->history({}), ElementsAre(records[1], records[0]));
}

TEST_P(journal_test, reattribution_renames_the_row_in_the_next_commit_and_adds_none) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant(1000, 7, 1, 2, 250), grant(1000, 8, 0, 2, 250)});
  const std::vector<release_reattribution> moved{{1000, 1, 2, 9, 400}};
  j->record_releases(std::vector{grant(1200, 10, 0, 2, 10)}, moved);
  EXPECT_THAT(
      place_.rows("SELECT released_at, shard, bucket, waited_ms FROM releases ORDER BY id"),
      ElementsAre(ElementsAre("1000", "9", "1", "400"), ElementsAre("1000", "8", "0", "250"),
                  ElementsAre("1200", "10", "0", "10")));
  EXPECT_EQ(j->count_releases_since(0), 3u) << "one row per grant: the budget counts it once";
}

TEST_P(journal_test, reattribution_alone_commits_and_may_clear_the_shard) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant(1000, 7)});
  j->record_releases({}, std::vector<release_reattribution>{{1000, 0, 1, std::nullopt, 5}});
  EXPECT_THAT(place_.rows("SELECT shard, waited_ms FROM releases"),
              ElementsAre(ElementsAre("NULL", "5")));
}

TEST_P(journal_test, largest_shard_is_stored_exactly) {
  const std::uint64_t largest = (std::uint64_t{1} << 63) - 1;
  const auto j = place_.open();
  j->record_releases(std::vector{grant(1, largest)});
  EXPECT_EQ(j->history({}).at(0).shard, largest);
}

TEST_P(journal_test, empty_batch_writes_nothing) {
  const auto j = place_.open();
  j->record_releases({});
  EXPECT_EQ(j->count_releases_since(0), 0u);
}

TEST_P(journal_test, grants_survive_reopening) {
  place_.open()->record_releases(std::vector{grant(10, 1), grant(20, 2)});
  const auto reopened = place_.open();
  EXPECT_EQ(reopened->count_releases_since(0), 2u);
}

TEST_P(journal_test, batch_of_256_grants_commits_in_one_call) {
  std::vector<release_record> records;
  for (std::uint32_t i = 0; i < 256; ++i) records.push_back(grant(i, i, i % 16, 16, i));
  const auto j = place_.open();
  j->record_releases(records);
  EXPECT_EQ(j->count_releases_since(0), 256u);
}

TEST_P(journal_test, normal_durability_commits_what_a_full_journal_reads_back) {
  place_.open(durability::normal)->record_releases(std::vector{grant(5, 1)});
  EXPECT_EQ(place_.open(durability::full)->count_releases_since(0), 1u);
}

TEST_P(journal_test, count_releases_since_is_inclusive) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant(100, 1), grant(200, 2), grant(200, 3), grant(300, 4)});
  EXPECT_EQ(j->count_releases_since(0), 4u);
  EXPECT_EQ(j->count_releases_since(200), 3u);
  EXPECT_EQ(j->count_releases_since(201), 1u);
  EXPECT_EQ(j->count_releases_since(301), 0u);
}

TEST_P(journal_test, recover_on_a_new_journal_knows_nothing) {
  const recovery_state state = place_.open()->recover();
  EXPECT_FALSE(state.limits);
  EXPECT_FALSE(state.last_release_at);
  EXPECT_EQ(state.last_max_concurrency, 0u);
  EXPECT_TRUE(state.last_release_by_bucket.empty());
}

TEST_P(journal_test, recover_returns_the_newest_limits_by_insertion_order) {
  const session_limits older{1000, 900, 50'000, 4, limits_source::discord, 9'000};
  // Journaled later although fetched_at is earlier: the journal order decides.
  const session_limits newer{1000, 800, 60'000, 16, limits_source::config, 8'000};
  const auto j = place_.open();
  j->record_limits(older);
  j->record_limits(newer);
  EXPECT_EQ(j->recover().limits, newer);
  EXPECT_EQ(place_.open()->recover().limits, newer);
}

TEST_P(journal_test, recover_reports_the_newest_grant_of_each_bucket) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant(100, 0, 0, 4), grant(150, 2, 2, 4), grant(300, 4, 0, 4)});
  j->record_releases(std::vector{grant(250, 6, 2, 4), grant(200, 10, 2, 4)});
  const recovery_state state = j->recover();
  EXPECT_EQ(state.last_release_at, 300);
  EXPECT_EQ(state.last_max_concurrency, 4u);
  EXPECT_THAT(state.last_release_by_bucket, ElementsAre(std::optional<unix_ms>(300), std::nullopt,
                                                        std::optional<unix_ms>(250), std::nullopt));
}

TEST_P(journal_test, recover_after_a_max_concurrency_change_uses_only_the_latest_layout) {
  const auto j = place_.open();
  // Under max_concurrency 4, bucket 1 granted last at 900: later than anything under 2.
  j->record_releases(std::vector{grant(900, 1, 1, 4), grant(500, 0, 0, 4)});
  j->record_releases(std::vector{grant(1000, 3, 1, 2), grant(1100, 6, 0, 2)});
  const recovery_state state = j->recover();
  EXPECT_EQ(state.last_release_at, 1100);
  EXPECT_EQ(state.last_max_concurrency, 2u);
  EXPECT_THAT(state.last_release_by_bucket,
              ElementsAre(std::optional<unix_ms>(1100), std::optional<unix_ms>(1000)));
}

TEST_P(journal_test, newest_grant_is_the_latest_timestamp_ties_broken_by_journal_order) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant(700, 1, 0, 1), grant(700, 2, 1, 2), grant(600, 3, 0, 3)});
  const recovery_state state = j->recover();
  EXPECT_EQ(state.last_release_at, 700);
  EXPECT_EQ(state.last_max_concurrency, 2u);
  EXPECT_THAT(state.last_release_by_bucket, ElementsAre(std::nullopt, std::optional<unix_ms>(700)));
}

TEST_P(journal_test, recover_finds_sparse_buckets_among_many) {
  const auto j = place_.open();
  std::vector<release_record> rows;
  for (unix_ms at = 1; at <= 300; ++at)
    rows.push_back(grant(at, 0, static_cast<std::uint32_t>(at % 3 == 0 ? 17 : 63), 64));
  rows.push_back(grant(5, 64, 0, 64));
  rows.push_back(grant(9999, 7, 7, 128));  // the newest grant, under another layout
  rows.push_back(grant(400, 64, 0, 64));
  j->record_releases(rows);
  const recovery_state state = j->recover();
  EXPECT_EQ(state.last_release_at, 9999);
  EXPECT_EQ(state.last_max_concurrency, 128u);
  ASSERT_EQ(state.last_release_by_bucket.size(), 128u);
  EXPECT_EQ(state.last_release_by_bucket[7], 9999);

  place_.open()->record_releases(std::vector{grant(10000, 0, 0, 64)});
  const recovery_state again = j->recover();
  ASSERT_EQ(again.last_release_by_bucket.size(), 64u);
  for (std::uint32_t bucket = 0; bucket < 64; ++bucket) {
    const std::optional<unix_ms> expected = bucket == 0    ? std::optional<unix_ms>(10000)
                                            : bucket == 17 ? std::optional<unix_ms>(300)
                                            : bucket == 63 ? std::optional<unix_ms>(299)
                                                           : std::nullopt;
    EXPECT_EQ(again.last_release_by_bucket[bucket], expected) << "bucket " << bucket;
  }
}

TEST_P(journal_test, invalid_grant_refuses_its_whole_batch) {
  const auto j = place_.open();
  EXPECT_THROW(j->record_releases(std::vector{grant(1, 1), grant(2, 2, 3, 3)}), journal_error);
  EXPECT_THROW(j->record_releases(std::vector{grant(1, 1), grant(2, 2, 0, 0)}), journal_error);
  EXPECT_THROW(j->record_releases(std::vector{grant(1, std::uint64_t{1} << 63)}), journal_error);
  EXPECT_THROW(j->record_limits({1000, 1000, 0, 0, limits_source::config, 0}), journal_error);
  EXPECT_EQ(j->count_releases_since(0), 0u);
  EXPECT_FALSE(j->recover().limits);
}

TEST_P(journal_test, failed_commit_leaves_nothing_and_journal_stays_usable) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant(1, 1)});
  // A write that fails after two rows of the batch went in: nothing of the batch may remain.
  place_.inject_failure_on_shard_666();
  try {
    j->record_releases(std::vector{grant(2, 2), grant(3, 3), grant(4, 666)});
    FAIL() << "record_releases did not throw";
  } catch (const journal_error& error) {
    EXPECT_THAT(error.what(), HasSubstr(place_.location()));
    EXPECT_THAT(error.what(), HasSubstr("injected write failure"));
  }
  EXPECT_EQ(j->count_releases_since(0), 1u);

  place_.undo_failure();
  j->record_releases(std::vector{grant(5, 5), grant(6, 6)});
  EXPECT_EQ(j->count_releases_since(0), 3u);
  EXPECT_THAT(place_.rows("SELECT shard FROM releases ORDER BY id"),
              ElementsAre(ElementsAre("1"), ElementsAre("5"), ElementsAre("6")));
}

class sqlite_journal_test : public ::testing::Test {
 protected:
  temp_dir dir_;
  std::string path_ = dir_.file("queue.db");
};

TEST_F(sqlite_journal_test, new_file_is_created_in_wal_mode_at_the_current_schema_version) {
  sqlite_journal j(path_);
  EXPECT_EQ(j.schema_version(), sqlite_journal::k_schema_version);
  EXPECT_EQ(j.location(), path_);
  raw_db raw(path_);
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.scalar("PRAGMA user_version"), "5");
}

// Recovery only reads; a prune or another writer holding the write lock must not make it wait
// (at start it used to hold the lock for the whole scan and stall the first prune and /history).
TEST_F(sqlite_journal_test, recover_takes_no_write_lock) {
  sqlite_journal j(path_);
  j.record_releases(std::vector{grant(100, 1)});
  raw_db other(path_);
  other.exec(
      "BEGIN IMMEDIATE; INSERT INTO releases (released_at, shard, bucket) VALUES (200, 2, 0)");
  // With BEGIN IMMEDIATE it would throw "database is locked" after the busy timeout.
  recovery_state state;
  EXPECT_NO_THROW(state = j.recover());
  EXPECT_EQ(state.last_release_at, 100) << "the uncommitted row is not seen";
  other.exec("ROLLBACK");
}

TEST_F(sqlite_journal_test, writer_waits_for_a_write_lock_held_briefly_by_another_connection) {
  sqlite_journal j(path_);
  raw_db other(path_);
  other.exec("BEGIN IMMEDIATE");
  std::promise<void> writing;
  auto writer = std::async(std::launch::async, [&] {
    writing.set_value();
    j.record_releases(std::vector{grant(1, 1)});
  });
  writing.get_future().wait();
  // Lets the writer reach the lock so that it actually waits; the outcome does not depend on it:
  // a writer that starts after the COMMIT must succeed too.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  other.exec("COMMIT");
  writer.get();
  EXPECT_EQ(j.count_releases_since(0), 1u);
}

TEST_F(sqlite_journal_test, grant_fails_while_another_connection_holds_the_lock_then_succeeds) {
  sqlite_journal j(path_);
  raw_db other(path_);
  other.exec("BEGIN IMMEDIATE");
  // Waits out the 5 s busy timeout: the price of pinning that a grant fails rather than hangs.
  try {
    j.record_releases(std::vector{grant(1, 1)});
    FAIL() << "record_releases did not throw";
  } catch (const journal_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("database is locked"));
  }
  other.exec("ROLLBACK");
  j.record_releases(std::vector{grant(2, 2)});
  EXPECT_EQ(j.count_releases_since(0), 1u);
  EXPECT_EQ(raw_db(path_).scalar("SELECT shard FROM releases"), "2");
}

}  // namespace
}  // namespace gq::storage
