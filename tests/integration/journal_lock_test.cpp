// One queue per journal: a second server on the same file refuses to start, and the lock goes
// with the process that held it, however it ended.

#include <gtest/gtest.h>

#include <string>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

run_result start_second_server_on(const std::string& db_path) {
  return run_to_exit({}, {{"QUEUE_DB", db_path},
                          {"HOST", "127.0.0.1"},
                          {"PORT", std::to_string(free_port())}});
}

TEST(journal_lock, a_second_server_on_the_same_journal_exits_1_and_the_first_keeps_serving) {
  server_process first;
  ASSERT_TRUE(first.start());
  const auto second = start_second_server_on(first.db_path());
  ASSERT_FALSE(second.timed_out) << "the second server started on a journal in use";
  EXPECT_TRUE(second.status.exited_with(1)) << second.status.describe();
  EXPECT_NE((second.out + second.err).find("in use by another gateway-queue process"),
            std::string::npos)
      << second.out << second.err;
  EXPECT_EQ(http_get(first.port(), "/?shard=0").status, 200) << first.output();
  EXPECT_TRUE(first.alive()) << first.output();
}

TEST(journal_lock, the_lock_ends_with_the_process_even_after_kill9) {
  server_process server;
  ASSERT_TRUE(server.start());
  server.kill9();
  ASSERT_TRUE(server.start()) << "the journal stayed locked after a crash";
  ASSERT_EQ(server.stop().code, 0);
  ASSERT_TRUE(server.start()) << "the journal stayed locked after a clean stop";
}

}  // namespace
}  // namespace gq::integration
