#pragma once
// Pacing runs on the monotonic clock (CAF's actor clock); the journal, Discord and the HTTP API
// speak unix milliseconds. One anchor, taken once, converts between the two so that every actor
// agrees and a wall-clock step (NTP) cannot shorten an interval that is already running.

#include <chrono>

#include "storage/records.hpp"

namespace gq {

struct clock_anchor {
  using time_point = std::chrono::steady_clock::time_point;

  time_point steady;  // this monotonic instant ...
  unix_ms wall = 0;   // ... is this wall-clock instant

  // The anchor of a real process: now on both clocks.
  static clock_anchor now() {
    return {std::chrono::steady_clock::now(),
            std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count()};
  }

  unix_ms to_unix(time_point t) const {
    return wall + std::chrono::duration_cast<std::chrono::milliseconds>(t - steady).count();
  }

  time_point from_unix(unix_ms t) const { return steady + std::chrono::milliseconds{t - wall}; }
};

}  // namespace gq
