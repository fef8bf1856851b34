// storage/sqlite/schema.cpp: the migration list, and that files of the previous release open with
// their rows intact.

#include "storage/sqlite/schema.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/sqlite/history.hpp"
#include "storage/sqlite/journal.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::make_version_1_journal;
using testing::raw_db;
using testing::temp_dir;

std::vector<std::vector<std::string>> columns(raw_db& db, const std::string& table) {
  return db.rows("SELECT name, type, \"notnull\", pk FROM pragma_table_info('" + table + "')");
}

TEST(schema_test, migrations_are_consecutive_and_end_at_the_current_version) {
  int expected = 1;
  for (const sqlite::migration& step : sqlite::migrations()) EXPECT_EQ(step.version, expected++);
  EXPECT_EQ(expected - 1, sqlite_journal::k_schema_version);
}

TEST(schema_test, version_1_journal_is_migrated_and_its_grants_stay_readable) {
  temp_dir dir;
  const std::string path = dir.file("queue.db");
  make_version_1_journal(path);
  sqlite_journal j(path);
  EXPECT_EQ(j.schema_version(), sqlite_journal::k_schema_version);
  EXPECT_EQ(j.count_releases_since(0), 2u);
  EXPECT_THAT(history(path).query({}), ElementsAre(release_record{2000, std::nullopt, 0, 1, 0},
                                                   release_record{1000, 3, 0, 1, 0}));
  const recovery_state state = j.recover();
  EXPECT_EQ(state.last_release_at, 2000);
  EXPECT_EQ(state.last_max_concurrency, 1u);
  EXPECT_THAT(state.last_release_by_bucket, ElementsAre(std::optional<unix_ms>(2000)));
  // The new parts work on the migrated file.
  j.record_limits({1000, 999, 5000, 1, limits_source::config, 3000});
  j.record_releases(std::vector{release_record{3000, 4, 1, 2, 17}});
  EXPECT_EQ(history(path).query({}).front(), (release_record{3000, 4, 1, 2, 17}));
}

TEST(schema_test, migrated_and_new_journals_have_the_same_tables_and_indexes) {
  temp_dir dir;
  make_version_1_journal(dir.file("old.db"));
  { const sqlite_journal migrated_on_open(dir.file("old.db")); }
  { const sqlite_journal created_on_open(dir.file("new.db")); }
  raw_db migrated(dir.file("old.db"));
  raw_db fresh(dir.file("new.db"));
  for (const char* table : {"releases", "limits"}) {
    EXPECT_EQ(columns(migrated, table), columns(fresh, table)) << table;
  }
  EXPECT_THAT(
      columns(fresh, "releases"),
      ElementsAre(
          ElementsAre("id", "INTEGER", "0", "1"), ElementsAre("released_at", "INTEGER", "1", "0"),
          ElementsAre("shard", "INTEGER", "0", "0"), ElementsAre("bucket", "INTEGER", "1", "0"),
          ElementsAre("max_concurrency", "INTEGER", "1", "0"),
          ElementsAre("waited_ms", "INTEGER", "1", "0"), ElementsAre("outcome", "TEXT", "0", "0"),
          ElementsAre("outcome_code", "INTEGER", "0", "0"),
          ElementsAre("outcome_at", "INTEGER", "0", "0"), ElementsAre("bot", "TEXT", "1", "0")));
  EXPECT_EQ(fresh.scalar("SELECT dflt_value FROM pragma_table_info('releases') WHERE name = 'bot'"),
            "'default'");
  EXPECT_EQ(fresh.scalar("SELECT dflt_value FROM pragma_table_info('limits') WHERE name = 'bot'"),
            "'default'");
  const std::string indexes =
      "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name";
  EXPECT_EQ(migrated.rows(indexes), fresh.rows(indexes));
  EXPECT_THAT(
      fresh.rows(indexes),
      ElementsAre(
          ElementsAre("limits_by_bot", "limits", HasSubstr("(bot, id)")),
          ElementsAre("releases_by_bot", "releases", HasSubstr("(bot, released_at)")),
          ElementsAre("releases_by_bucket", "releases",
                      HasSubstr("(bot, max_concurrency, bucket, released_at)")),
          ElementsAre("releases_by_released_at", "releases", HasSubstr("(released_at)")),
          ElementsAre("releases_by_shard", "releases", HasSubstr("(shard, released_at)")),
          ElementsAre("releases_invalid_sessions", "releases",
                      HasSubstr("(bot, outcome_at)\n  WHERE outcome = 'invalid_session'"))));
}

TEST(schema_test, failed_migration_leaves_the_file_at_its_old_version) {
  temp_dir dir;
  const std::string path = dir.file("queue.db");
  make_version_1_journal(path);
  // Version 2 creates `limits`; a table of that name already there makes the step fail half-way,
  // after the ALTER TABLEs.
  raw_db(path).exec("CREATE TABLE limits (x)");
  try {
    sqlite_journal j(path);
    FAIL() << "migration did not fail";
  } catch (const journal_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("migrating to schema version 2"));
    EXPECT_THAT(error.what(), HasSubstr(path));
  }
  raw_db raw(path);
  EXPECT_EQ(raw.scalar("PRAGMA user_version"), "1");
  EXPECT_EQ(columns(raw, "releases").size(), 4u);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM releases"), "2");
}

TEST(schema_test, limits_source_is_constrained_on_disk) {
  temp_dir dir;
  const std::string path = dir.file("queue.db");
  sqlite_journal j(path);
  EXPECT_THROW(raw_db(path).exec("INSERT INTO limits (fetched_at, total, remaining, reset_at, "
                                 "max_concurrency, source) VALUES (0, 1, 1, 0, 1, 'guess')"),
               std::runtime_error);
}

}  // namespace
}  // namespace gq::storage
