// storage/journal.cpp under kill -9 (after SQLite's test/crash*.test): a writer killed at an
// arbitrary point of a commit leaves a journal that passes integrity_check, holds every grant
// whose record_releases had returned, and no part of any batch that had not.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "storage/sqlite/journal.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using testing::raw_db;
using testing::temp_dir;

// Batch `sequence` holds this many grants, all released_at = sequence: sizes vary so that kills
// land in small and large commits alike.
std::int64_t batch_size(std::int64_t sequence) { return 1 + (sequence * 37) % 256; }

// Child: commits batches after the newest journaled one and reports each sequence number on
// `acknowledgements` only after record_releases returned, as the server sends its 200s.
[[noreturn]] void write_until_killed(const std::string& path, int acknowledgements) {
  try {
    sqlite_journal j(path);
    for (std::int64_t sequence = j.recover().last_release_at.value_or(0) + 1;; ++sequence) {
      const std::vector<release_record> batch(
          static_cast<std::size_t>(batch_size(sequence)),
          release_record{sequence, static_cast<std::uint64_t>(sequence), 0, 1, 0});
      j.record_releases(batch);
      if (write(acknowledgements, &sequence, sizeof sequence) != sizeof sequence) _exit(2);
    }
  } catch (...) {
    _exit(1);
  }
}

TEST(crash_test, kill_9_keeps_every_acknowledged_batch_and_no_partial_one) {
  temp_dir dir;
  const std::string path = dir.file("queue.db");
  std::int64_t acknowledged = 0;
  for (int round = 0; round < 8; ++round) {
    int pipe_ends[2];
    ASSERT_EQ(pipe(pipe_ends), 0);
    const pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
      close(pipe_ends[0]);
      write_until_killed(path, pipe_ends[1]);
    }
    close(pipe_ends[1]);
    std::int64_t sequence = 0;
    for (int seen = 0; seen < 1 + round * 5; ++seen) {
      ASSERT_EQ(read(pipe_ends[0], &sequence, sizeof sequence), sizeof sequence) << "child died";
      acknowledged = sequence;
    }
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    // Acknowledgements sent between the last read and the kill count too.
    while (read(pipe_ends[0], &sequence, sizeof sequence) == sizeof sequence)
      acknowledged = sequence;
    close(pipe_ends[0]);

    raw_db check(path);
    EXPECT_EQ(check.scalar("PRAGMA integrity_check"), "ok") << "round " << round;
    const std::int64_t newest = std::stoll(check.scalar("SELECT max(released_at) FROM releases"));
    EXPECT_GE(newest, acknowledged) << "an acknowledged batch was lost in round " << round;
    for (const auto& row : check.rows("SELECT released_at, count(*) FROM releases "
                                      "GROUP BY released_at ORDER BY released_at")) {
      const std::int64_t at = std::stoll(row[0]);
      EXPECT_EQ(std::stoll(row[1]), batch_size(at)) << "batch " << at << " is partial or doubled";
    }
    EXPECT_EQ(check.scalar("SELECT count(DISTINCT released_at) FROM releases"),
              std::to_string(newest));
  }
}

}  // namespace
}  // namespace gq::storage
