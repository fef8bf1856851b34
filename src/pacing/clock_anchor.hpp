#pragma once
// Pacing runs on the monotonic clock (CAF's actor clock); the journal, Discord and the HTTP API
// speak unix milliseconds. One anchor, taken once, converts between the two so that every actor
// agrees and a wall-clock step (NTP) cannot shorten an interval that is already running.

#include <chrono>

#include "src/core/records.hpp"

namespace gq {

struct clock_anchor {
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  time_point steady;          // this monotonic instant ...
  unix_ms wall = 0;           // ... is this wall-clock instant (whole ms) ...
  duration wall_fraction{0};  // ... plus this part of a millisecond

  // The anchor of a real process: now on both clocks. The fraction is kept, so that a unix time
  // converts to the monotonic instant it names, not one up to a millisecond later.
  static clock_anchor now() {
    const auto steady_now = std::chrono::steady_clock::now();
    const auto since_epoch =
        std::chrono::duration_cast<duration>(std::chrono::system_clock::now().time_since_epoch());
    const auto whole = std::chrono::floor<std::chrono::milliseconds>(since_epoch);
    return {steady_now, whole.count(), since_epoch - whole};
  }

  // The unix millisecond that contains `t`.
  unix_ms to_unix(time_point t) const {
    return wall + std::chrono::floor<std::chrono::milliseconds>(t - steady + wall_fraction).count();
  }

  // The instant at which the unix millisecond `t` begins.
  time_point from_unix(unix_ms t) const {
    return steady + std::chrono::milliseconds{t - wall} - wall_fraction;
  }
};

}  // namespace gq
