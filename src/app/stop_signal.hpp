#pragma once
// Where main waits for the end: SIGINT/SIGTERM (exit 0) or a fatal condition raised by an actor,
// such as Discord rejecting the token at start (exit 1).

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace gq {

class stop_signal {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread and every thread started after it, and
  // starts a thread that turns them into trigger(0). Call before any other thread exists.
  stop_signal();
  ~stop_signal();
  stop_signal(const stop_signal&) = delete;
  stop_signal& operator=(const stop_signal&) = delete;

  // The first call wins; later calls are ignored.
  void trigger(int exit_code, const std::string& reason);

  // Blocks until triggered; returns the exit code.
  int wait();
  const std::string& reason() const { return reason_; }

 private:
  std::mutex mutex_;
  std::condition_variable triggered_;
  bool done_ = false;
  int exit_code_ = 0;
  std::string reason_;
  std::thread signal_thread_;
};

}  // namespace gq
