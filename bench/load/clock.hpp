#pragma once
// Clocks of the load client: steady for the client's own intervals, realtime to compare with the
// kernel's receive timestamps and the journal's released_at (unix ms).

#include <time.h>

#include <chrono>
#include <cstdint>

namespace gq::bench {

using steady = std::chrono::steady_clock;

inline std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
      .count();
}

inline std::int64_t real_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace gq::bench
