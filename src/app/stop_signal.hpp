#pragma once
// Where main waits for the end: SIGINT/SIGTERM (exit 0; SIGHUP asks for a reload instead) or a
// fatal condition raised by an actor, such as Discord rejecting the token at start (exit 1); and
// for the events it acts on before that, such as this process losing its journal (wake).

#include <chrono>
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
  // Ends the current or next wait_for early, without stopping. Any thread.
  void wake();
  // Blocks until triggered, woken or `timeout` passed; true once triggered.
  bool wait_for(std::chrono::milliseconds timeout);
  bool triggered();
  // Whether SIGHUP arrived since the last call (it also wakes wait_for): re-read the bots file.
  bool take_reload();
  const std::string& reason() const { return reason_; }

 private:
  std::mutex mutex_;
  std::condition_variable triggered_;
  bool done_ = false;
  bool woken_ = false;
  bool reload_ = false;
  int exit_code_ = 0;
  std::string reason_;
  std::thread signal_thread_;
};

}  // namespace gq
