#include "src/app/journal_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gq {

// flock(), not SQLite's POSIX record locks: an flock belongs to this open file description only,
// so SQLite opening and closing the same file cannot release it, and it does not interfere with
// SQLite's own locking.
journal_lock::journal_lock(const std::string& journal_path) {
  // Created if missing (empty: SQLite takes an empty file for a new database), so that the lock
  // is held before anything reads, creates or migrates the journal.
  fd_ = ::open(journal_path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw journal_in_use("cannot open " + journal_path + " to lock it: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  const int error = errno;
  ::close(fd_);
  fd_ = -1;
  if (error == EWOULDBLOCK)
    throw journal_in_use(journal_path +
                         " is in use by another gateway-queue process; run one queue per journal");
  throw journal_in_use("cannot lock " + journal_path + ": " + std::strerror(error));
}

journal_lock::~journal_lock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace gq
