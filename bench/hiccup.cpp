// bench/hiccup: how late this machine wakes a sleeping thread, while a scenario runs.
//
// Sleeps 1 ms at a time (absolute deadlines, 1 ns timer slack, like the server's grant pass) and
// records how late each wake-up is. A stall of the whole VM (or a CPU too busy to run a waiting
// thread) shows up here as it does in the server's grant lateness, so a late grant can be told
// apart from a slow server. Runs until SIGTERM/SIGINT or --seconds, then prints one JSON line;
// its "stalls" are the wake-ups later than 1 ms as [unix ms of the wake-up, ms late] (the first
// 10,000), so a scenario can pick the stalls within its own window.

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace {

std::atomic<bool> stop{false};

void on_signal(int) { stop = true; }

std::int64_t real_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

std::int64_t now_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3600;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  std::vector<double> late_ms;
  std::vector<std::pair<std::int64_t, double>> stalls;  // realtime of the wake-up, ms late
  late_ms.reserve(1 << 20);
  const auto end = now_ns() + static_cast<std::int64_t>(seconds * 1e9);
  while (!stop && now_ns() < end) {
    const auto target = now_ns() + 1'000'000;
    const timespec at{static_cast<time_t>(target / 1'000'000'000),
                      static_cast<long>(target % 1'000'000'000)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR && !stop) {
    }
    late_ms.push_back(static_cast<double>(now_ns() - target) / 1e6);
    if (late_ms.back() > 1.0 && stalls.size() < 10000)
      stalls.emplace_back(real_ns(), late_ms.back());
  }
  if (late_ms.empty()) return 0;
  std::sort(late_ms.begin(), late_ms.end());
  auto q = [&](double p) {
    return late_ms[std::min(late_ms.size() - 1, static_cast<std::size_t>(p * late_ms.size()))];
  };
  const auto over = [&](double ms) {
    return std::count_if(late_ms.begin(), late_ms.end(), [&](double x) { return x > ms; });
  };
  std::printf(
      "{\"wakeups\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
      "\"over_1ms\":%ld,\"over_5ms\":%ld,\"stalls\":[",
      late_ms.size(), q(0.5), q(0.99), q(0.999), late_ms.back(), static_cast<long>(over(1)),
      static_cast<long>(over(5)));
  for (std::size_t i = 0; i < stalls.size(); ++i)
    std::printf("%s[%.3f,%.3f]", i ? "," : "", static_cast<double>(stalls[i].first / 1000) / 1000.0,
                stalls[i].second);
  std::printf("]}\n");
  return 0;
}
