// What shards report on their grants, on both backends: an outcome is written on its grant's row
// (a later report of the same grant replaces it), and the reads a restart needs for the loop
// guard (the last hour's grants) and for widening (the reported Invalid Sessions).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "storage/sqlite/journal.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

release_record grant(unix_ms at, shard_id shard, std::uint32_t bucket = 0,
                     std::uint32_t max_concurrency = 1) {
  return {at, shard, bucket, max_concurrency, 0, std::nullopt};
}

release_outcome reported(unix_ms released_at, std::uint32_t bucket, std::uint32_t max_concurrency,
                         outcome_result result, unix_ms at,
                         std::optional<std::uint32_t> code = std::nullopt) {
  return {{released_at, bucket, max_concurrency}, {result, code, at}};
}

class journal_outcomes_test : public ::testing::TestWithParam<testing::backend> {
 protected:
  testing::journal_place place_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(backends, journal_outcomes_test,
                         ::testing::Values(testing::backend::sqlite, testing::backend::postgresql),
                         testing::backend_name);

TEST_P(journal_outcomes_test, outcome_is_written_on_its_grants_row_and_a_later_one_replaces_it) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant(1000, 7, 1, 2), grant(1000, 8, 0, 2)});
  j->record_releases({}, {},
                     std::vector{reported(1000, 1, 2, outcome_result::invalid_session, 1400)});
  EXPECT_THAT(place_.rows("SELECT shard, outcome, outcome_code, outcome_at FROM releases "
                          "ORDER BY id"),
              ElementsAre(ElementsAre("7", "invalid_session", "NULL", "1400"),
                          ElementsAre("8", "NULL", "NULL", "NULL")));
  j->record_releases({}, {}, std::vector{reported(1000, 1, 2, outcome_result::closed, 1500, 4004)});
  EXPECT_THAT(place_.rows("SELECT outcome, outcome_code, outcome_at FROM releases WHERE shard = 7"),
              ElementsAre(ElementsAre("closed", "4004", "1500")));
  const auto rows = j->history({});
  ASSERT_EQ(rows.size(), 2u);
  const auto& seven = rows[0].shard == 7u ? rows[0] : rows[1];
  ASSERT_TRUE(seven.outcome.has_value());
  EXPECT_EQ(*seven.outcome, (grant_outcome{outcome_result::closed, 4004, 1500}));
}

TEST_P(journal_outcomes_test, outcome_of_a_row_that_is_gone_writes_nothing_and_is_no_error) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant(1000, 7)});
  j->record_releases({}, {}, std::vector{reported(999, 0, 1, outcome_result::ready, 1200)});
  EXPECT_THAT(place_.rows("SELECT outcome FROM releases"), ElementsAre(ElementsAre("NULL")));
  EXPECT_EQ(j->count_releases_since(0), 1u);
}

TEST_P(journal_outcomes_test, outcomes_commit_with_the_grants_of_the_same_batch) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant(1000, 7)});
  j->record_releases(std::vector{grant(2000, 8)}, {},
                     std::vector{reported(1000, 0, 1, outcome_result::ready, 1100)});
  EXPECT_THAT(place_.rows("SELECT shard, outcome FROM releases ORDER BY id"),
              ElementsAre(ElementsAre("7", "ready"), ElementsAre("8", "NULL")));
}

TEST_P(journal_outcomes_test, shard_grants_since_reads_the_grants_that_named_a_shard_oldest_first) {
  const auto j = place_.open();
  j->record_releases(
      std::vector{grant(3000, 5, 1, 2), grant(1000, 5), grant(2000, std::nullopt), grant(2500, 9)});
  EXPECT_THAT(j->shard_grants_since(1500),
              ElementsAre(shard_grant{9, {2500, 0, 1}}, shard_grant{5, {3000, 1, 2}}));
  EXPECT_THAT(j->shard_grants_since(4000), IsEmpty());
}

TEST_P(journal_outcomes_test, invalid_sessions_since_reads_those_reported_since_oldest_first) {
  const auto j = place_.open();
  j->record_releases(
      std::vector{grant(1000, 1), grant(2000, 2, 1, 2), grant(3000, 3), grant(4000, 4)});
  j->record_releases({}, {},
                     std::vector{reported(1000, 0, 1, outcome_result::invalid_session, 1100),
                                 reported(2000, 1, 2, outcome_result::invalid_session, 5000),
                                 reported(3000, 0, 1, outcome_result::ready, 3100),
                                 reported(4000, 0, 1, outcome_result::invalid_session, 4200)});
  EXPECT_THAT(j->invalid_sessions_since(1200),
              ElementsAre(reported_invalid_session{{4000, 0, 1}, 4200},
                          reported_invalid_session{{2000, 1, 2}, 5000}));
}

// A journal written by the previous release (schema version 3) gains the outcome columns; its
// rows stay, with no outcome.
TEST_P(journal_outcomes_test, version_3_journal_is_migrated_and_its_rows_kept_without_outcome) {
  if (place_.kind() == testing::backend::sqlite) {
    place_.exec(
        "CREATE TABLE releases (id INTEGER PRIMARY KEY, released_at INTEGER NOT NULL, "
        "shard INTEGER NULL, bucket INTEGER NOT NULL, max_concurrency INTEGER NOT NULL DEFAULT 1, "
        "waited_ms INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX releases_by_released_at ON releases(released_at);"
        "CREATE INDEX releases_by_shard ON releases(shard, released_at);"
        "CREATE TABLE limits (id INTEGER PRIMARY KEY, fetched_at INTEGER NOT NULL, "
        "total INTEGER NOT NULL, remaining INTEGER NOT NULL, reset_at INTEGER NOT NULL, "
        "max_concurrency INTEGER NOT NULL, source TEXT NOT NULL CHECK(source IN ('discord', "
        "'config')));"
        "CREATE INDEX releases_by_bucket ON releases(max_concurrency, bucket, released_at);"
        "INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms) "
        "VALUES (1000, 3, 0, 1, 40);"
        "PRAGMA user_version = 3;");
  } else {
    place_.exec(
        "CREATE TABLE releases (id bigserial PRIMARY KEY, released_at bigint NOT NULL, "
        "shard bigint NULL, bucket bigint NOT NULL, max_concurrency bigint NOT NULL DEFAULT 1, "
        "waited_ms bigint NOT NULL DEFAULT 0);"
        "CREATE INDEX releases_by_released_at ON releases(released_at);"
        "CREATE INDEX releases_by_shard ON releases(shard, released_at);"
        "CREATE INDEX releases_by_bucket ON releases(max_concurrency, bucket, released_at);"
        "CREATE TABLE limits (id bigserial PRIMARY KEY, fetched_at bigint NOT NULL, "
        "total bigint NOT NULL, remaining bigint NOT NULL, reset_at bigint NOT NULL, "
        "max_concurrency bigint NOT NULL, source text NOT NULL CHECK(source IN ('discord', "
        "'config')));"
        "CREATE TABLE gq_schema (one boolean PRIMARY KEY DEFAULT true CHECK(one), "
        "version integer NOT NULL);"
        "INSERT INTO gq_schema VALUES (true, 3);"
        "INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms) "
        "VALUES (1000, 3, 0, 1, 40);");
  }
  const auto j = place_.open();
  EXPECT_EQ(j->schema_version(), sqlite_journal::k_schema_version);
  EXPECT_THAT(j->history({}), ElementsAre(release_record{1000, 3, 0, 1, 40, std::nullopt}));
  j->record_releases({}, {}, std::vector{reported(1000, 0, 1, outcome_result::ready, 1300)});
  EXPECT_EQ(j->history({}).front().outcome,
            (grant_outcome{outcome_result::ready, std::nullopt, 1300}));
}

}  // namespace
}  // namespace gq::storage
