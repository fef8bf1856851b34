#include "src/app/stop_signal.hpp"

#include <pthread.h>

#include <csignal>
#include <ctime>
#include <utility>

namespace gq {

namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);  // not a stop: a reload (take_reload)
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
      if (sig == SIGHUP) {
        std::lock_guard<std::mutex> guard{mutex_};
        reload_ = true;
        woken_ = true;
        triggered_.notify_all();
      }
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

void stop_signal::wake() {
  std::lock_guard<std::mutex> guard{mutex_};
  woken_ = true;
  triggered_.notify_all();
}

bool stop_signal::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mutex_};
  triggered_.wait_for(lock, timeout, [this] { return done_ || woken_; });
  woken_ = false;
  return done_;
}

bool stop_signal::take_reload() {
  std::lock_guard<std::mutex> guard{mutex_};
  return std::exchange(reload_, false);
}

bool stop_signal::triggered() {
  std::lock_guard<std::mutex> guard{mutex_};
  return done_;
}

}  // namespace gq
