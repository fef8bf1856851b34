#include "src/app/stop_signal.hpp"

#include <pthread.h>

#include <csignal>
#include <ctime>

namespace gq {

namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

stop_signal::stop_signal() {
  const auto blocked = stop_signals();
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  signal_thread_ = std::thread([this, blocked] {
    const timespec poll{0, 200'000'000};
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mutex_};
        if (done_) return;
      }
      const int sig = sigtimedwait(&blocked, nullptr, &poll);
      if (sig == SIGINT || sig == SIGTERM) trigger(0, sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
  });
}

stop_signal::~stop_signal() {
  trigger(0, "exit");
  signal_thread_.join();
}

void stop_signal::trigger(int exit_code, const std::string& reason) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (done_) return;
  done_ = true;
  exit_code_ = exit_code;
  reason_ = reason;
  triggered_.notify_all();
}

int stop_signal::wait() {
  std::unique_lock<std::mutex> lock{mutex_};
  triggered_.wait(lock, [this] { return done_; });
  return exit_code_;
}

}  // namespace gq
