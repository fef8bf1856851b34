// One queue per journal: a second server on the same file refuses to start, and the lock goes
// with the process that held it, however it ended.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "storage/test_support.hpp"

namespace gq::integration {
namespace {

run_result start_second_server_on(const std::string& db_path) {
  return run_to_exit(
      {}, {{"QUEUE_DB", db_path}, {"HOST", "127.0.0.1"}, {"PORT", std::to_string(free_port())}});
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

// The running queue is the lock's holder here (an older release would hold it the same way);
// the server under test must leave the file exactly as it found it.
TEST(journal_lock, a_server_refused_by_the_lock_neither_migrates_nor_writes_the_journal) {
  scratch_dir dir;
  const auto path = dir.file("old.db");
  storage::testing::make_version_1_journal(path);
  const auto before = read_text_file(path);
  const int holder = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(holder, 0);
  ASSERT_EQ(::flock(holder, LOCK_EX | LOCK_NB), 0);

  const auto second = start_second_server_on(path);
  ::close(holder);
  ASSERT_FALSE(second.timed_out) << "the server started on a journal in use";
  EXPECT_TRUE(second.status.exited_with(1)) << second.status.describe();
  EXPECT_NE((second.out + second.err).find("in use by another gateway-queue process"),
            std::string::npos)
      << second.out << second.err;
  EXPECT_EQ(storage::testing::raw_db(path).scalar("PRAGMA user_version"), "1")
      << "the refused server migrated the journal of the running one";
  EXPECT_TRUE(read_text_file(path) == before) << "the refused server wrote to the journal";
  EXPECT_FALSE(std::filesystem::exists(path + "-wal")) << "the refused server opened the journal";
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
