#pragma once
// One queue per journal. A second gateway-queue on the same file would grant on its own, and
// the two would break both the identify interval and the daily budget between them. The server
// holds an exclusive lock on the journal file for its lifetime; the kernel drops it when the
// process ends, kill -9 included, so a crash never leaves the journal locked.

#include <stdexcept>
#include <string>

namespace gq {

class journal_in_use : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class journal_lock {
 public:
  // Locks `journal_path`, creating it (empty) if missing, or throws journal_in_use naming the file.
  // Taken before the journal is opened: a second server must not create, read or migrate the
  // file of a running one.
  explicit journal_lock(const std::string& journal_path);
  ~journal_lock();
  journal_lock(const journal_lock&) = delete;
  journal_lock& operator=(const journal_lock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace gq
