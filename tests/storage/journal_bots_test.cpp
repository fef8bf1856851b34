// Several bots in one journal, on both backends: each row carries its bot, every read of one bot
// sees that bot's rows alone, a re-attribution or an outcome finds its own bot's row, history
// reads one bot or every bot, a version-4 journal's rows all become the bot `default`, and bot
// names the journal cannot store are refused. SQLite: every read of one bot is an index search.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/sql.hpp"
#include "storage/sqlite/journal.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using testing::error_of;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

release_record grant(const std::string& bot, unix_ms at, shard_id shard, std::uint32_t bucket,
                     std::uint32_t max_concurrency, std::int64_t waited_ms = 0) {
  return {at, shard, bucket, max_concurrency, waited_ms, std::nullopt, bot};
}

release_outcome invalid_session(const std::string& bot, grant_row row, unix_ms at) {
  return {row, {outcome_result::invalid_session, std::nullopt, at}, bot};
}

std::vector<std::optional<unix_ms>> newest(std::initializer_list<std::optional<unix_ms>> each) {
  return each;
}

class journal_bots_test : public ::testing::TestWithParam<testing::backend> {
 protected:
  testing::journal_place place_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(backends, journal_bots_test,
                         ::testing::Values(testing::backend::sqlite, testing::backend::postgresql),
                         testing::backend_name);

// Two bots interleaved in one call. beta's grants are the newest, its limits the last journaled,
// and it has an older layout (max_concurrency 2) like alpha's: a read that ignored the bot would
// give alpha some of beta's.
TEST_P(journal_bots_test, each_read_of_a_bot_sees_its_own_rows_alone) {
  const auto j = place_.open();
  const session_limits alpha_limits{1000, 900, 50'000, 2, limits_source::discord, 100};
  const session_limits beta_limits{2000, 1500, 60'000, 4, limits_source::config, 200};
  j->record_limits(alpha_limits, "alpha");
  j->record_limits(beta_limits, "beta");
  j->record_releases(std::vector{
      grant("alpha", 1000, 0, 0, 2), grant("beta", 1050, 0, 0, 4), grant("alpha", 1100, 1, 1, 2),
      grant("beta", 2000, 3, 3, 4), grant("alpha", 5000, 2, 0, 2), grant("beta", 7000, 5, 1, 2),
      grant("beta", 9000, 1, 1, 4), grant("beta", 9100, std::nullopt, 0, 4)});
  j->record_releases({}, {},
                     std::vector{invalid_session("alpha", {1000, 0, 2}, 6000),
                                 invalid_session("beta", {2000, 3, 4}, 6100)});
  EXPECT_THAT(place_.rows("SELECT bot FROM releases ORDER BY id"),
              ElementsAre(ElementsAre("alpha"), ElementsAre("beta"), ElementsAre("alpha"),
                          ElementsAre("beta"), ElementsAre("alpha"), ElementsAre("beta"),
                          ElementsAre("beta"), ElementsAre("beta")));

  const recovery_state alpha = j->recover("alpha");
  EXPECT_EQ(alpha.limits, alpha_limits);
  EXPECT_EQ(alpha.last_release_at, 5000);
  EXPECT_EQ(alpha.last_max_concurrency, 2u);
  EXPECT_EQ(alpha.last_release_by_bucket, newest({5000, 1100}));
  const recovery_state beta = j->recover("beta");
  EXPECT_EQ(beta.limits, beta_limits);
  EXPECT_EQ(beta.last_release_at, 9100);
  EXPECT_EQ(beta.last_max_concurrency, 4u);
  EXPECT_EQ(beta.last_release_by_bucket, newest({9100, 9000, std::nullopt, 2000}));
  for (const recovery_state& none : {j->recover("gamma"), j->recover()}) {
    EXPECT_FALSE(none.limits);
    EXPECT_FALSE(none.last_release_at);
    EXPECT_TRUE(none.last_release_by_bucket.empty());
  }

  EXPECT_EQ(j->count_releases_since(0, "alpha"), 3u);
  EXPECT_EQ(j->count_releases_since(1060, "alpha"), 2u);
  EXPECT_EQ(j->count_releases_since(1060, "beta"), 4u);
  EXPECT_EQ(j->count_releases_since(0), 0u);

  EXPECT_THAT(j->shard_grants_since(0, "alpha"),
              ElementsAre(shard_grant{0, {1000, 0, 2}}, shard_grant{1, {1100, 1, 2}},
                          shard_grant{2, {5000, 0, 2}}));
  EXPECT_THAT(j->shard_grants_since(1060, "beta"),
              ElementsAre(shard_grant{3, {2000, 3, 4}}, shard_grant{5, {7000, 1, 2}},
                          shard_grant{1, {9000, 1, 4}}));

  EXPECT_THAT(j->invalid_sessions_since(0, "alpha"),
              ElementsAre(reported_invalid_session{{1000, 0, 2}, 6000}));
  EXPECT_THAT(j->invalid_sessions_since(0, "beta"),
              ElementsAre(reported_invalid_session{{2000, 3, 4}, 6100}));
  EXPECT_THAT(j->invalid_sessions_since(0), IsEmpty());
}

// Two bots' grants with the same due instant, bucket and max_concurrency: only the bot tells the
// rows apart. The other bot's row is always the later journaled one, which a re-attribution or
// an outcome that ignored the bot would take (the newest matching row).
TEST_P(journal_bots_test, reattribution_and_outcome_find_their_own_bots_row) {
  const auto j = place_.open();
  j->record_releases(
      std::vector{grant("alpha", 1000, 7, 1, 2, 250), grant("beta", 1000, 8, 1, 2, 250),
                  grant("beta", 2000, 17, 0, 2, 30), grant("alpha", 2000, 18, 0, 2, 30)});
  j->record_releases({},
                     std::vector<release_reattribution>{{1000, 1, 2, 9, 400, "alpha"},
                                                        {2000, 0, 2, 19, 60, "beta"}},
                     std::vector{invalid_session("alpha", {1000, 1, 2}, 1200),
                                 invalid_session("beta", {2000, 0, 2}, 2200)});
  EXPECT_THAT(
      place_.rows("SELECT bot, released_at, shard, waited_ms, outcome FROM releases ORDER BY id"),
      ElementsAre(ElementsAre("alpha", "1000", "9", "400", "invalid_session"),
                  ElementsAre("beta", "1000", "8", "250", "NULL"),
                  ElementsAre("beta", "2000", "19", "60", "invalid_session"),
                  ElementsAre("alpha", "2000", "18", "30", "NULL")));
}

TEST_P(journal_bots_test, history_reads_one_bot_or_every_bot_naming_each_rows_bot) {
  const auto j = place_.open();
  const std::vector records{grant("alpha", 100, 1, 0, 1), grant("beta", 200, 1, 0, 1),
                            grant("alpha", 300, 2, 0, 1), grant("beta", 400, 2, 0, 1)};
  j->record_releases(records);
  EXPECT_THAT(j->history({}), ElementsAre(records[3], records[2], records[1], records[0]));
  history_filter filter;
  filter.bot = "alpha";
  EXPECT_THAT(j->history(filter), ElementsAre(records[2], records[0]));
  filter.since = 150;
  filter.until = 350;
  EXPECT_THAT(j->history(filter), ElementsAre(records[2]));
  filter = {};
  filter.bot = "beta";
  filter.shard = 1;
  EXPECT_THAT(j->history(filter), ElementsAre(records[1]));
  filter.bot = "gamma";
  filter.shard = std::nullopt;
  EXPECT_THAT(j->history(filter), IsEmpty());
}

// Valid names that mean something elsewhere are stored as given: "null" is SQL NULL in an
// unquoted PostgreSQL array element.
TEST_P(journal_bots_test, every_valid_name_is_stored_as_given) {
  const auto j = place_.open();
  const std::string longest(k_max_bot_name, 'z');
  std::vector<release_record> records;
  for (const std::string& bot :
       std::vector<std::string>{"null", "-", "_", "0", "a-b_c9", "default", longest}) {
    const auto at = static_cast<unix_ms>(records.size() + 1);
    records.push_back(grant(bot, at, static_cast<std::uint64_t>(at), 0, 1));
  }
  j->record_releases(records);
  for (const release_record& record : records) {
    history_filter filter;
    filter.bot = record.bot;
    EXPECT_THAT(j->history(filter), ElementsAre(record)) << record.bot;
    EXPECT_EQ(j->recover(record.bot).last_release_at, record.released_at) << record.bot;
    j->record_limits({10, 10, 0, 1, limits_source::config, record.released_at}, record.bot);
    EXPECT_EQ(j->recover(record.bot).limits->fetched_at, record.released_at) << record.bot;
  }
}

TEST_P(journal_bots_test, a_name_the_journal_cannot_store_is_refused_before_anything_is_written) {
  const auto j = place_.open();
  j->record_releases(std::vector{grant("alpha", 1000, 1, 0, 1)});
  for (const std::string& bad :
       std::vector<std::string>{"", "Alpha", "a b", "a'b", "a;b", std::string(33, 'a')}) {
    EXPECT_THAT(
        error_of([&] {
          j->record_releases(std::vector{grant("alpha", 2000, 2, 0, 1), grant(bad, 2000, 2, 0, 1)});
        }),
        HasSubstr("bot is not [a-z0-9_-]{1,32}"))
        << bad;
    EXPECT_THAT(error_of([&] {
                  j->record_releases({}, std::vector<release_reattribution>{
                                             {1000, 0, 1, 5, 5, "alpha"}, {1000, 0, 1, 5, 5, bad}});
                }),
                HasSubstr("bot is not"))
        << bad;
    EXPECT_THAT(error_of([&] {
                  j->record_releases(std::vector{grant("alpha", 3000, 3, 0, 1)}, {},
                                     std::vector{invalid_session(bad, {1000, 0, 1}, 1100)});
                }),
                HasSubstr("bot is not"))
        << bad;
    EXPECT_THAT(error_of([&] {
                  j->record_limits({1, 1, 0, 1, limits_source::config, 0}, bad);
                }),
                HasSubstr("bot is not"))
        << bad;
    history_filter filter;
    filter.bot = bad;
    EXPECT_THAT(error_of([&] { j->history(filter); }), HasSubstr("bot must be")) << bad;
  }
  EXPECT_THAT(place_.rows("SELECT bot, released_at, shard, waited_ms, outcome FROM releases"),
              ElementsAre(ElementsAre("alpha", "1000", "1", "0", "NULL")));
  EXPECT_THAT(place_.rows("SELECT count(*) FROM limits"), ElementsAre(ElementsAre("0")));
}

// A journal of the previous release (schema version 4, written by hand as it left it): every row
// becomes the bot `default`, whose recovery is what the previous release read from it.
TEST_P(journal_bots_test, version_4_journal_is_migrated_and_every_row_belongs_to_default) {
  const std::string rows =
      "INSERT INTO releases (released_at, shard, bucket, max_concurrency, waited_ms, outcome, "
      "outcome_at) VALUES (1000, 3, 0, 2, 40, NULL, NULL), (1500, 4, 1, 2, 0, 'invalid_session', "
      "1600), (1200, NULL, 0, 2, 0, NULL, NULL), (800, 5, 0, 1, 0, NULL, NULL);"
      "INSERT INTO limits (fetched_at, total, remaining, reset_at, max_concurrency, source) "
      "VALUES (10, 1000, 990, 20, 1, 'config'), (30, 1000, 900, 40, 2, 'discord');";
  if (place_.kind() == testing::backend::sqlite) {
    place_.exec(
        "CREATE TABLE releases (id INTEGER PRIMARY KEY, released_at INTEGER NOT NULL, "
        "shard INTEGER NULL, bucket INTEGER NOT NULL, max_concurrency INTEGER NOT NULL DEFAULT 1, "
        "waited_ms INTEGER NOT NULL DEFAULT 0, outcome TEXT, outcome_code INTEGER, "
        "outcome_at INTEGER);"
        "CREATE INDEX releases_by_released_at ON releases(released_at);"
        "CREATE INDEX releases_by_shard ON releases(shard, released_at);"
        "CREATE TABLE limits (id INTEGER PRIMARY KEY, fetched_at INTEGER NOT NULL, "
        "total INTEGER NOT NULL, remaining INTEGER NOT NULL, reset_at INTEGER NOT NULL, "
        "max_concurrency INTEGER NOT NULL, source TEXT NOT NULL CHECK(source IN ('discord', "
        "'config')));"
        "CREATE INDEX releases_by_bucket ON releases(max_concurrency, bucket, released_at);"
        "CREATE INDEX releases_invalid_sessions ON releases(outcome_at) "
        "WHERE outcome = 'invalid_session';" +
        rows + "PRAGMA user_version = 4;");
  } else {
    place_.exec(
        "CREATE TABLE releases (id bigserial PRIMARY KEY, released_at bigint NOT NULL, "
        "shard bigint NULL, bucket bigint NOT NULL, max_concurrency bigint NOT NULL DEFAULT 1, "
        "waited_ms bigint NOT NULL DEFAULT 0, outcome text NULL, outcome_code bigint NULL, "
        "outcome_at bigint NULL);"
        "CREATE INDEX releases_by_released_at ON releases(released_at);"
        "CREATE INDEX releases_by_shard ON releases(shard, released_at);"
        "CREATE INDEX releases_by_bucket ON releases(max_concurrency, bucket, released_at);"
        "CREATE INDEX releases_invalid_sessions ON releases(outcome_at) "
        "WHERE outcome = 'invalid_session';"
        "CREATE TABLE limits (id bigserial PRIMARY KEY, fetched_at bigint NOT NULL, "
        "total bigint NOT NULL, remaining bigint NOT NULL, reset_at bigint NOT NULL, "
        "max_concurrency bigint NOT NULL, source text NOT NULL CHECK(source IN ('discord', "
        "'config')));"
        "CREATE TABLE gq_schema (one boolean PRIMARY KEY DEFAULT true CHECK(one), "
        "version integer NOT NULL);"
        "INSERT INTO gq_schema VALUES (true, 4);" +
        rows);
  }
  const auto j = place_.open();
  EXPECT_EQ(j->schema_version(), sqlite_journal::k_schema_version);
  EXPECT_THAT(place_.rows("SELECT DISTINCT bot FROM releases"),
              ElementsAre(ElementsAre("default")));
  EXPECT_THAT(place_.rows("SELECT DISTINCT bot FROM limits"), ElementsAre(ElementsAre("default")));

  const auto expect_the_previous_recovery = [&] {
    const recovery_state state = j->recover();
    EXPECT_EQ(state.limits, (session_limits{1000, 900, 40, 2, limits_source::discord, 30}));
    EXPECT_EQ(state.last_release_at, 1500);
    EXPECT_EQ(state.last_max_concurrency, 2u);
    EXPECT_EQ(state.last_release_by_bucket, newest({1200, 1500}));
    EXPECT_EQ(j->count_releases_since(900), 3u);
    EXPECT_THAT(j->shard_grants_since(900),
                ElementsAre(shard_grant{3, {1000, 0, 2}}, shard_grant{4, {1500, 1, 2}}));
    EXPECT_THAT(j->invalid_sessions_since(0),
                ElementsAre(reported_invalid_session{{1500, 1, 2}, 1600}));
  };
  expect_the_previous_recovery();
  EXPECT_THAT(
      j->history({}),
      ElementsAre(release_record{1500, 4, 1, 2, 0,
                                 grant_outcome{outcome_result::invalid_session, std::nullopt, 1600},
                                 "default"},
                  grant("default", 1200, std::nullopt, 0, 2), grant("default", 1000, 3, 0, 2, 40),
                  grant("default", 800, 5, 0, 1)));

  // Another bot's grants, limits and reports leave default's reads as they were.
  j->record_limits({5, 5, 0, 1, limits_source::config, 9000}, "alpha");
  j->record_releases(std::vector{grant("alpha", 1500, 4, 1, 2), grant("alpha", 9000, 3, 0, 4)},
                     std::vector<release_reattribution>{{1500, 1, 2, 77, 1, "alpha"}},
                     std::vector{invalid_session("alpha", {1500, 1, 2}, 9500)});
  expect_the_previous_recovery();
  EXPECT_EQ(j->recover("alpha").last_release_at, 9000);
}

// Whatever the number of bots and rows, each read of one bot is a seek into an index that starts
// with the bot. SQLite plans without statistics (the journal never runs ANALYZE), so the plan on
// a new file is the plan on a file of millions of rows.
TEST(journal_bots_plan_test, every_read_of_one_bot_is_a_search_of_an_index_led_by_the_bot) {
  testing::temp_dir dir;
  const std::string path = dir.file("queue.db");
  { const sqlite_journal created(path); }
  testing::raw_db raw(path);
  const auto plan = [&](std::string_view statement) {
    std::vector<std::string> lines;
    for (const auto& row :
         raw.rows("EXPLAIN QUERY PLAN " + sql::for_dialect(statement, sql::dialect::sqlite))) {
      const std::string& detail = row.at(3);
      if (detail.find("releases") != std::string::npos ||
          detail.find("limits") != std::string::npos) {
        lines.push_back(detail);
      }
    }
    return lines;
  };
  const auto searches = [](const std::string& index) {
    return AllOf(Each(StartsWith("SEARCH ")), Contains(HasSubstr(index)));
  };
  EXPECT_THAT(plan(sql::k_newest_limits), searches("limits_by_bot (bot=?)"));
  EXPECT_THAT(plan(sql::k_newest_release), searches("releases_by_bot (bot=?)"));
  EXPECT_THAT(plan(sql::k_newest_by_bucket),
              searches("releases_by_bucket (bot=? AND max_concurrency=? AND bucket=?)"));
  EXPECT_THAT(plan(sql::k_count_since), searches("releases_by_bot (bot=? AND released_at>?)"));
  EXPECT_THAT(plan(sql::k_shard_grants_since),
              searches("releases_by_bot (bot=? AND released_at>?)"));
  EXPECT_THAT(plan(sql::k_invalid_sessions_since),
              searches("releases_invalid_sessions (bot=? AND outcome_at>?)"));
  const std::string exact_row =
      "releases_by_bucket (bot=? AND max_concurrency=? AND bucket=? AND released_at=?)";
  EXPECT_THAT(plan(sql::k_reattribute_release), searches(exact_row));
  EXPECT_THAT(plan(sql::k_record_outcome), searches(exact_row));
  EXPECT_THAT(plan(sql::history_query(sql::k_by_bot, sql::dialect::postgres)),
              searches("releases_by_bot (bot=?)"));
  EXPECT_THAT(plan(sql::history_query(sql::k_by_bot | sql::k_by_since | sql::k_by_until,
                                      sql::dialect::postgres)),
              searches("releases_by_bot (bot=? AND released_at>? AND released_at<?)"));
}

}  // namespace
}  // namespace gq::storage
