// storage/postgres/journal.cpp beyond the shared suite (journal_test, history_test): where the
// password goes, which databases it refuses, a server that is down or goes away, the deferred
// check, and the schema it writes.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/postgres/journal.hpp"
#include "storage/sqlite/journal.hpp"
#include "support/env_guard.hpp"
#include "support/postgres_server.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using gq::testing::k_password;
using gq::testing::k_password_user;
using gq::testing::postgres_server;
using ::testing::AllOf;
using ::testing::ElementsAre;
using testing::error_of;
using ::testing::HasSubstr;
using ::testing::Not;

release_record grant(unix_ms at, shard_id shard) { return {at, shard, 0, 1, 0}; }

std::string open_error(const std::string& uri, journal_options options = {}) {
  return error_of([&] { open_journal(uri, options); });
}

class postgres_journal_test : public ::testing::Test {
 protected:
  postgres_server& server_ = postgres_server::shared();
  std::string database_ = server_.create_database();
  std::string uri_ = server_.uri(database_);

  // user:password@ over TCP with scram-sha-256, in a database that user owns.
  std::string password_uri(const std::string& password, const std::string& database) const {
    return "postgresql://" + std::string(k_password_user) + ":" + password +
           "@127.0.0.1:" + std::to_string(server_.port()) + "/" + database;
  }
};

TEST_F(postgres_journal_test, both_uri_schemes_open_a_postgres_journal) {
  EXPECT_TRUE(is_postgres_location("postgresql://h/db"));
  EXPECT_TRUE(is_postgres_location("postgres://h/db"));
  EXPECT_FALSE(is_postgres_location("/var/lib/gq/postgresql.db"));
  EXPECT_FALSE(is_postgres_location("gateway-queue.db"));
  const std::string short_scheme = "postgres://" + uri_.substr(std::string("postgresql://").size());
  const auto j = open_journal(short_scheme);
  EXPECT_NE(dynamic_cast<postgres_journal*>(j.get()), nullptr);
  EXPECT_EQ(j->location(), short_scheme);
}

TEST_F(postgres_journal_test, new_database_gets_the_documented_schema) {
  open_journal(uri_)->record_releases(std::vector{grant(1000, 7)});
  EXPECT_THAT(server_.admin("SELECT version FROM gq_schema", database_), ElementsAre("5"));
  EXPECT_THAT(
      server_.admin("SELECT column_name || ' ' || data_type FROM information_schema.columns "
                    "WHERE table_name = 'releases' ORDER BY ordinal_position",
                    database_),
      ElementsAre("id bigint", "released_at bigint", "shard bigint", "bucket bigint",
                  "max_concurrency bigint", "waited_ms bigint", "outcome text",
                  "outcome_code bigint", "outcome_at bigint", "bot text"));
  EXPECT_THAT(
      server_.admin("SELECT column_name || ' ' || data_type FROM information_schema.columns "
                    "WHERE table_name = 'limits' AND column_name = 'bot'",
                    database_),
      ElementsAre("bot text"));
  EXPECT_THAT(server_.admin("SELECT indexname FROM pg_indexes WHERE tablename = 'releases' "
                            "ORDER BY indexname",
                            database_),
              ElementsAre("releases_by_bot", "releases_by_bucket", "releases_by_released_at",
                          "releases_by_shard", "releases_invalid_sessions", "releases_pkey"));
  EXPECT_THAT(server_.admin("SELECT indexdef FROM pg_indexes WHERE tablename = 'limits' "
                            "ORDER BY indexname",
                            database_),
              ElementsAre(HasSubstr("limits_by_bot ON public.limits USING btree (bot, id)"),
                          HasSubstr("limits_pkey")));
}

TEST_F(postgres_journal_test, password_is_never_in_the_location_or_an_error) {
  const std::string database = server_.create_database(k_password_user);
  const std::string uri = password_uri(k_password, database);
  const auto j = open_journal(uri);
  EXPECT_EQ(j->location(), "postgresql://" + std::string(k_password_user) +
                               "@127.0.0.1:" + std::to_string(server_.port()) + "/" + database);
  j->record_releases(std::vector{grant(1, 1)});
  EXPECT_EQ(j->count_releases_since(0), 1u);
  // A failing write names the journal: without the password.
  std::string refused;
  try {
    j->record_releases(std::vector<release_record>{{2, 2, 0, 0, 0}});
  } catch (const journal_error& error) {
    refused = error.what();
  }
  EXPECT_THAT(refused, AllOf(HasSubstr(k_password_user), HasSubstr("max_concurrency is 0"),
                             Not(HasSubstr(k_password))));

  const std::string wrong = "Wrong-pw-also-secret-55";
  EXPECT_THAT(open_error(password_uri(wrong, database)),
              AllOf(HasSubstr("password authentication failed"), HasSubstr(database),
                    Not(HasSubstr(wrong))));
  // As a parameter, percent-encoded, or in PGPASSWORD: never shown either.
  const std::string as_parameter = "postgresql://" + std::string(k_password_user) +
                                   "@127.0.0.1:" + std::to_string(server_.port()) + "/" + database +
                                   "?connect_timeout=5&password=" + wrong;
  EXPECT_THAT(open_error(as_parameter),
              AllOf(HasSubstr("password authentication failed"), HasSubstr("connect_timeout=5"),
                    Not(HasSubstr(wrong)), Not(HasSubstr("password="))));
  EXPECT_THAT(
      open_error(password_uri("p%zzq-Secret-9", database)),
      AllOf(HasSubstr("not a valid PostgreSQL connection URI"), Not(HasSubstr("Secret-9"))));
  const std::string no_password = "postgresql://" + std::string(k_password_user) +
                                  "@127.0.0.1:" + std::to_string(server_.port()) + "/" + database;
  gq::testing::env_guard env({"PGPASSWORD"});
  env.set("PGPASSWORD", wrong);
  EXPECT_THAT(open_error(no_password),
              AllOf(HasSubstr("password authentication failed"), Not(HasSubstr(wrong))));
  env.set("PGPASSWORD", k_password);
  EXPECT_EQ(open_journal(no_password)->count_releases_since(0), 1u);
}

TEST_F(postgres_journal_test, schema_from_a_newer_version_is_refused_and_left_alone) {
  open_journal(uri_)->record_releases(std::vector{grant(1, 1)});
  server_.admin("UPDATE gq_schema SET version = 7", database_);
  EXPECT_THAT(open_error(uri_), HasSubstr("schema version 7 is newer than this build's 5"));
  EXPECT_THAT(open_error(uri_, {durability::full, integrity_check::deferred}),
              HasSubstr("schema version 7 is newer"));
  EXPECT_THAT(server_.admin("SELECT version FROM gq_schema", database_), ElementsAre("7"));
  EXPECT_THAT(server_.admin("SELECT count(*) FROM releases", database_), ElementsAre("1"));
}

TEST_F(postgres_journal_test, foreign_releases_table_is_refused_and_left_alone) {
  server_.admin("CREATE TABLE releases (name text)", database_);
  EXPECT_THAT(open_error(uri_), HasSubstr("not a gateway-queue journal"));
  EXPECT_THAT(server_.admin("SELECT to_regclass('gq_schema') IS NULL", database_),
              ElementsAre("t"));
}

TEST_F(postgres_journal_test, unrelated_tables_of_the_database_are_kept) {
  server_.admin("CREATE TABLE bots (name text); INSERT INTO bots VALUES ('a')", database_);
  open_journal(uri_)->record_releases(std::vector{grant(1, 1)});
  EXPECT_THAT(server_.admin("SELECT name FROM bots", database_), ElementsAre("a"));
}

TEST_F(postgres_journal_test, server_that_refuses_connections_fails_with_journal_error) {
  const int port = gq::testing::free_loopback_port();
  const std::string uri = "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/gq";
  EXPECT_THAT(open_error(uri), AllOf(HasSubstr("journal " + uri + ": cannot open"),
                                     HasSubstr(std::to_string(port)), HasSubstr("refused")));
}

TEST_F(postgres_journal_test, missing_database_is_refused_not_created) {
  EXPECT_THAT(open_error(server_.uri("gq_no_such_database")),
              HasSubstr("database \"gq_no_such_database\" does not exist"));
}

// A COMMIT that fails (a deferred constraint checked at COMMIT): nothing of the batch is kept.
TEST_F(postgres_journal_test, failure_at_commit_keeps_nothing_of_the_batch) {
  const auto j = open_journal(uri_);
  j->record_releases(std::vector{grant(1, 1)});
  server_.admin(
      "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "RAISE EXCEPTION 'refused at commit'; END $$; "
      "CREATE CONSTRAINT TRIGGER refuse_666 AFTER INSERT ON releases DEFERRABLE INITIALLY "
      "DEFERRED FOR EACH ROW WHEN (NEW.shard = 666) EXECUTE FUNCTION refuse()",
      database_);
  try {
    j->record_releases(std::vector{grant(2, 2), grant(3, 666)});
    FAIL() << "record_releases did not throw";
  } catch (const journal_error& error) {
    EXPECT_THAT(error.what(), AllOf(HasSubstr(uri_), HasSubstr("refused at commit")));
  }
  EXPECT_THAT(server_.admin("SELECT shard FROM releases ORDER BY id", database_), ElementsAre("1"));
  server_.admin("DROP TRIGGER refuse_666 ON releases", database_);
  j->record_releases(std::vector{grant(4, 4)});
  EXPECT_EQ(j->count_releases_since(0), 2u);
}

// A server of its own, stopped (like a crash) and started again under the open journal.
TEST(postgres_server_loss_test, write_fails_while_the_server_is_down_and_works_once_it_is_back) {
  postgres_server server;
  const std::string database = server.create_database();
  const auto j = open_journal(server.uri(database));
  j->record_releases(std::vector{grant(1, 1)});
  server.stop();
  EXPECT_THROW(j->record_releases(std::vector{grant(2, 2), grant(3, 3)}), journal_error);
  EXPECT_THROW(j->record_limits({1000, 999, 0, 1, limits_source::config, 0}), journal_error);
  EXPECT_THROW(j->history({}), journal_error);
  server.start();
  j->record_releases(std::vector{grant(4, 4)});
  EXPECT_THAT(server.admin("SELECT shard FROM releases ORDER BY id", database),
              ElementsAre("1", "4"));
  EXPECT_EQ(j->history({}).size(), 2u);
  EXPECT_EQ(j->recover().last_release_at, 4);
}

// One writer per journal: the server opens it exclusive, a second server is refused, a reader
// (the history command) is not.
TEST_F(postgres_journal_test, a_second_writer_is_refused_while_the_first_holds_the_journal) {
  auto first = open_journal(uri_, {durability::full, integrity_check::at_open, true});
  first->record_releases(std::vector{grant(1, 1)});
  EXPECT_THAT(open_error(uri_, {durability::full, integrity_check::at_open, true}),
              HasSubstr("another gateway-queue is the active writer of this journal"));
  EXPECT_EQ(open_journal(uri_, {durability::full, integrity_check::deferred})->history({}).size(),
            1u)
      << "a reader opens beside the writer";
  first.reset();  // its session, and with it the lock, ends
  auto second = open_journal(uri_, {durability::full, integrity_check::at_open, true});
  second->record_releases(std::vector{grant(2, 2)});
  EXPECT_EQ(second->history({}).size(), 2u);
}

// The fence: a writer whose session ended (a network cut, the server ending it) has lost the
// lock with it. Another queue may have taken the lock and granted meanwhile, which this journal
// has not read, so it never writes again, not even once the lock is free: the process must open
// the journal anew and recover from it.
TEST_F(postgres_journal_test, a_writer_that_lost_its_session_never_commits_again) {
  auto first = open_journal(uri_, {durability::full, integrity_check::at_open, true});
  first->record_releases(std::vector{grant(1, 1)});
  first->confirm_writer();
  EXPECT_FALSE(first->writer_lost());
  server_.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                    database_ + "' AND pid <> pg_backend_pid()",
                database_);
  EXPECT_THROW(first->confirm_writer(), journal_error) << "the session is gone";
  EXPECT_TRUE(first->writer_lost());
  auto second = open_journal(uri_, {durability::full, integrity_check::at_open, true});
  second->record_releases(std::vector{grant(2, 2)});
  try {
    first->record_releases(std::vector{grant(3, 3)});
    ADD_FAILURE() << "committed without the lock";
  } catch (const journal_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no longer the journal's writer"));
  }
  second.reset();  // the lock is free again
  EXPECT_THROW(first->record_releases(std::vector{grant(4, 4)}), journal_error);
  EXPECT_THROW(first->record_limits(session_limits{}), journal_error);
  EXPECT_TRUE(first->writer_lost());
  EXPECT_THAT(server_.admin("SELECT shard FROM releases ORDER BY id", database_),
              ElementsAre("1", "2"));
  auto again = open_journal(uri_, {durability::full, integrity_check::at_open, true});
  EXPECT_EQ(again->recover().last_release_at, 2) << "opened anew, it reads what the other wrote";
}

// A standby tells "another queue is active" (journal_taken: try again later) from a journal that
// cannot be opened at all.
TEST_F(postgres_journal_test, a_taken_journal_is_told_apart_from_a_broken_one) {
  auto first = open_journal(uri_, {durability::full, integrity_check::at_open, true});
  EXPECT_THROW(open_journal(uri_, {durability::full, integrity_check::at_open, true}),
               journal_taken);
  EXPECT_FALSE(first->writer_lost());
}

TEST_F(postgres_journal_test, deferred_open_refuses_writes_until_verify_passes) {
  open_journal(uri_)->record_releases(std::vector{grant(1, 1)});
  const auto j = open_journal(uri_, {durability::full, integrity_check::deferred});
  EXPECT_FALSE(j->verified());
  EXPECT_EQ(j->recover().last_release_at, 1) << "reads work before the check";
  EXPECT_THAT(j->history({}), ::testing::SizeIs(1));
  // The refusal of both backends (storage/journal.cpp).
  EXPECT_THAT(error_of([&] { j->record_releases(std::vector{grant(2, 2)}); }),
              HasSubstr("the journal's integrity check has not passed"));
  EXPECT_THAT(error_of([&] { j->prune_before(10, 100); }),
              HasSubstr("the journal's integrity check has not passed"));
  j->verify();
  EXPECT_TRUE(j->verified());
  j->record_releases(std::vector{grant(2, 2)});
  EXPECT_EQ(j->count_releases_since(0), 2u);
}

TEST_F(postgres_journal_test, read_only_database_fails_verify_and_open) {
  open_journal(uri_)->record_releases(std::vector{grant(1, 1)});
  server_.admin("ALTER DATABASE " + database_ + " SET default_transaction_read_only = on");
  const auto j = open_journal(uri_, {durability::full, integrity_check::deferred});
  try {
    j->verify();
    FAIL() << "verify passed on a read-only database";
  } catch (const journal_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("read-only transaction"));
  }
  EXPECT_FALSE(j->verified());
  EXPECT_THROW(j->record_releases(std::vector{grant(2, 2)}), journal_error);
  EXPECT_THAT(open_error(uri_), HasSubstr("read-only transaction"));
}

TEST_F(postgres_journal_test, deferred_open_of_a_new_database_creates_the_schema_at_once) {
  const auto j = open_journal(uri_, {durability::full, integrity_check::deferred});
  EXPECT_TRUE(j->verified());
  EXPECT_EQ(j->schema_version(), sqlite_journal::k_schema_version);
}

}  // namespace
}  // namespace gq::storage
