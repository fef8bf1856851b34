// Fail closed: when the journal cannot be written nothing is granted, clients see 503, and the
// queue recovers by itself once the journal is writable again. An unreadable journal at start
// is a clear error and a non-zero exit, never a silently new database.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "storage/sqlite/journal.hpp"

namespace gq::integration {
namespace {

// Holds SQLite's write lock on the journal from another connection, as a stuck backup tool or a
// second writer would.
class write_lock_holder {
 public:
  explicit write_lock_holder(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    // Just after it starts listening the queue may still be writing its start-up rows; a slow run
    // (ThreadSanitizer) can still be at it here (BEGIN EXCLUSIVE then failed with SQLITE_BUSY).
    // Wait for that write to end, then hold the lock.
    sqlite3_busy_timeout(db_, 10'000);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  ~write_lock_holder() { release(); }
  void release() {
    if (!db_) return;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

long long releases_in(const std::string& path) {
  sqlite3* db = nullptr;
  long long count = -1;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    sqlite3_prepare_v2(db, "select count(*) from releases", -1, &statement, nullptr);
    if (statement && sqlite3_step(statement) == SQLITE_ROW)
      count = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return count;
}

TEST(journal_failure, unwritable_journal_grants_nothing_and_answers_503) {
  server_process server{{"QUEUE_IDENTIFY_INTERVAL_MS", "100"}};
  ASSERT_TRUE(server.start());
  write_lock_holder lock{server.db_path()};

  const auto refused = http_get(server.port(), "/?shard=0");
  EXPECT_EQ(refused.status, 503) << refused.body << refused.error;
  EXPECT_TRUE(refused.has_header("Retry-After"));
  EXPECT_EQ(http_get(server.port(), "/health").status, 200) << "the process still serves";
  const auto status = http_get(server.port(), "/status").json();
  EXPECT_GE(status.value("journal_failures", 0), 1);
  EXPECT_EQ(status.value("grants_total", -1), 0);
  const auto metrics = http_get(server.port(), "/metrics").body;
  EXPECT_NE(metrics.find("\ngateway_queue_rejections_total{reason=\"journal\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(server.stdout_text().find("journal: commit failed"), std::string::npos)
      << "the error is visible in the log\n"
      << server.output();

  lock.release();
  const auto granted = http_get(server.port(), "/?shard=0");
  EXPECT_EQ(granted.status, 200) << granted.body;
  EXPECT_EQ(releases_in(server.db_path()), 1) << "only the grant that was sent is journaled";
}

TEST(journal_failure, unreadable_journal_at_start_is_an_error_and_left_untouched) {
  scratch_dir dir;
  const auto path = dir.file("not-a-journal.db");
  const std::string garbage(4096, 'x');
  {
    std::ofstream out(path, std::ios::binary);
    out << garbage;
  }
  const auto result = run_to_exit({}, {{"QUEUE_DB", path}, {"PORT", std::to_string(free_port())}});
  EXPECT_FALSE(result.timed_out);
  EXPECT_TRUE(result.status.code && *result.status.code != 0) << result.status.describe();
  EXPECT_NE((result.out + result.err).find("journal"), std::string::npos)
      << result.out << result.err;
  EXPECT_EQ(read_text_file(path), garbage) << "never replaced by a new database";
}

// The integrity check runs after the queue listens (start-up must not grow with the journal);
// a journal that fails it never grants: waiters are held, the process exits 1 naming the damage,
// and the file is left as it was.
TEST(journal_failure, damaged_journal_never_grants_and_the_server_exits) {
  scratch_dir dir;
  const auto path = dir.file("damaged.db");
  {
    storage::sqlite_journal journal(path);
    std::vector<release_record> rows;
    for (int i = 0; i < 5000; ++i)
      rows.push_back({1000 + i, static_cast<std::uint64_t>(i), 0, 1, 0});
    journal.record_releases(rows);
  }
  ASSERT_FALSE(std::filesystem::exists(path + "-wal"));
  std::string bytes = read_text_file(path);
  const std::size_t page_size = 4096;
  const std::size_t damaged = bytes.size() / page_size / 2;  // far from the newest rows
  ASSERT_GT(damaged, 10u);
  for (std::size_t i = damaged * page_size; i < (damaged + 1) * page_size; ++i) bytes[i] = '\x5a';
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }

  const auto port = free_port();
  const pid_t pid = spawn_binary({}, {{"QUEUE_DB", path}, {"PORT", std::to_string(port)}},
                                 dir.path(), dir.file("stdout.log"), dir.file("stderr.log"), {});
  std::optional<exit_status> ended;
  int answered = 0;
  for (int attempt = 0; attempt < 400 && !ended; ++attempt) {
    const auto reply = http_get(port, "/?shard=0");
    EXPECT_NE(reply.status, 200) << "a damaged journal granted";
    answered += reply.status != 0;
    ended = wait_for_exit(pid, 25ms);
  }
  if (!ended) {
    ::kill(pid, SIGKILL);
    ended = wait_for_exit(pid, 5s);
    FAIL() << "the server kept running on a damaged journal";
  }
  EXPECT_TRUE(ended->exited_with(1)) << ended->describe();
  const auto log = read_text_file(dir.file("stdout.log")) + read_text_file(dir.file("stderr.log"));
  EXPECT_NE(log.find("integrity check failed"), std::string::npos) << log;
  EXPECT_EQ(read_text_file(path), bytes) << "the damaged journal was written to";
  RecordProperty("queue_requests_answered_before_exit", answered);
}

}  // namespace
}  // namespace gq::integration
