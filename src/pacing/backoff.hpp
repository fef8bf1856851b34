#pragma once
// Capped exponential backoff with full jitter, for calls to Discord that failed transiently.
// Jitter spreads the retries of many queues after a shared outage; the cap bounds the wait.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace gq {

class backoff {
 public:
  using duration = std::chrono::milliseconds;

  backoff(duration base, duration cap, std::uint64_t seed = std::random_device{}())
      : base_(base), cap_(cap), rng_(seed) {}

  // The wait before the next attempt: uniform in [ceiling / 2, ceiling], where the ceiling
  // doubles per failure from `base` up to `cap`.
  duration next() {
    const auto shift = std::min<std::uint32_t>(failures_, 20);
    const auto ceiling = std::min<std::int64_t>(base_.count() << shift, cap_.count());
    ++failures_;
    std::uniform_int_distribution<std::int64_t> pick(ceiling / 2, ceiling);
    return duration{pick(rng_)};
  }

  void reset() { failures_ = 0; }
  std::uint32_t failures() const { return failures_; }

 private:
  duration base_;
  duration cap_;
  std::uint32_t failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace gq
