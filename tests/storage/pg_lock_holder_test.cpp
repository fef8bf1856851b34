// The journal's lock proves one writer only if the writer's statements run on the session that
// took it. A connection pooler in transaction or statement mode breaks that: it hands one session
// to several clients, and one client's statements to several sessions. The lock holder marks its
// session (postgres::connection::try_advisory_lock), and each of these tests plays one way a pooler
// breaks the rule by changing that mark behind the connection's back.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/journal.hpp"
#include "support/postgres_server.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using gq::testing::postgres_server;
using testing::error_of;
using ::testing::HasSubstr;

// What another process's statements leave on a session they share with us.
void mark_as(postgres::connection& session, const std::string& mark) {
  const postgres::parameter values[] = {mark};
  session.query("SELECT set_config('gateway_queue.writer', $1, false)", values, "test");
}

class pg_lock_holder_test : public ::testing::Test {
 protected:
  postgres_server& server_ = postgres_server::shared();
  std::string database_ = server_.create_database();
  std::string uri_ = server_.uri(database_);
};

TEST_F(pg_lock_holder_test, a_session_that_holds_the_lock_for_another_process_is_refused) {
  postgres::connection shared(uri_);
  ASSERT_TRUE(shared.try_advisory_lock(postgres::k_journal_lock)) << "the first process";
  // The second process reaches the same session through the pooler: the lock is its own
  // session's (taken again, PostgreSQL counts it) but the mark is not.
  postgres::connection second(uri_);
  mark_as(second, "4242-another-process");
  EXPECT_THAT(error_of([&] { second.try_advisory_lock(postgres::k_journal_lock); }),
              HasSubstr("connection pooler"));
}

TEST_F(pg_lock_holder_test, the_writer_check_fails_on_a_session_that_is_not_the_lock_holder) {
  postgres::connection writer(uri_);
  ASSERT_TRUE(writer.try_advisory_lock(postgres::k_journal_lock));
  writer.confirm_lock_holder();
  EXPECT_FALSE(writer.lock_lost());
  mark_as(writer, "");  // the pooler sent this statement to another session
  EXPECT_THAT(error_of([&] { writer.confirm_lock_holder(); }), HasSubstr("connection pooler"));
  EXPECT_TRUE(writer.lock_lost());
}

TEST_F(pg_lock_holder_test, no_grant_is_committed_on_a_session_that_is_not_the_lock_holder) {
  auto writer = std::make_unique<postgres::connection>(uri_);
  ASSERT_TRUE(writer->try_advisory_lock(postgres::k_journal_lock));
  postgres::connection* session = writer.get();
  postgres_journal journal(uri_, std::move(writer), durability::full, integrity_check::at_open);
  journal.record_releases(std::vector<release_record>{{1, 1, 0, 1, 0}});
  mark_as(*session, "4242-another-process");
  EXPECT_THAT(error_of([&] {
                journal.record_releases(std::vector<release_record>{{2, 2, 0, 1, 0}});
              }),
              HasSubstr("connection pooler"));
  EXPECT_TRUE(journal.writer_lost());
  EXPECT_EQ(server_.admin("SELECT count(*) FROM releases", database_).front(), "1");
}

}  // namespace
}  // namespace gq::storage
