// A full disk under the journal: grants stop (503, never a 200 without its row), the process
// keeps serving, and grants resume by themselves once space is freed.
//
// The journal lives on a small tmpfs mounted for the test (root only; skipped otherwise, with the
// reason). The mount is undone however the test ends.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "storage/test_support.hpp"

namespace gq::integration {
namespace {

// A size-limited tmpfs on a fresh directory, unmounted and removed by the destructor.
class small_filesystem {
 public:
  explicit small_filesystem(const std::string& size) {
    std::string pattern = "/tmp/gq-full-disk-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) return;
    path_ = pattern;
    const std::string options = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~small_filesystem() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  small_filesystem(const small_filesystem&) = delete;
  small_filesystem& operator=(const small_filesystem&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
  std::string error_ = "mkdtemp failed";
  bool mounted_ = false;
};

// Writes `path` until the filesystem has no room left; true once a write failed with ENOSPC.
bool fill(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const std::vector<char> block(4096, 'x');
  bool full = false;
  for (;;) {
    const ssize_t written = ::write(fd, block.data(), block.size());
    if (written < 0) {
      full = errno == ENOSPC;
      break;
    }
  }
  ::close(fd);
  return full;
}

TEST(full_disk, grants_stop_with_503_while_the_disk_is_full_and_resume_once_space_is_freed) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a size-limited tmpfs needs root";
  small_filesystem disk("1m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.error();

  server_process server({{"QUEUE_DB", disk.file("gateway-queue.db")},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "1"},
                         {"QUEUE_DAILY_LIMIT", "1000000"}});
  ASSERT_TRUE(server.start());
  ASSERT_EQ(http_get(server.port(), "/?shard=0").status, 200) << server.output();

  ASSERT_TRUE(fill(disk.file("filler")));
  int refused = 0;
  for (int shard = 1; shard <= 50; ++shard) {
    const auto reply = http_get(server.port(), "/?shard=" + std::to_string(shard));
    ASSERT_NE(reply.status, 200) << "granted with the disk full (shard " << shard << ")\n"
                                 << server.output();
    EXPECT_EQ(reply.status, 503) << reply.body << reply.error;
    refused += reply.status == 503;
  }
  EXPECT_EQ(refused, 50);
  EXPECT_EQ(http_get(server.port(), "/health").status, 200) << "the process stopped serving";
  EXPECT_TRUE(server.alive()) << server.output();

  std::filesystem::remove(disk.file("filler"));
  const auto granted = http_get(server.port(), "/?shard=100");
  EXPECT_EQ(granted.status, 200) << "no grant once space was freed\n"
                                 << granted.body << granted.error << "\n"
                                 << server.output();
  ASSERT_EQ(server.stop().code, 0) << server.output();
  storage::testing::raw_db journal(disk.file("gateway-queue.db"));
  EXPECT_EQ(journal.scalar("SELECT group_concat(shard) FROM (SELECT shard FROM releases "
                           "ORDER BY id)"),
            "0,100")
      << "every 200 has its row, and no refused request has one";
  EXPECT_EQ(journal.scalar("PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace gq::integration
