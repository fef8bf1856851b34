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
  duration next() { return wait_after(failures_++, base_, cap_, rng_); }

  // The same rule for callers that keep only a failure count per peer and share one generator
  // (the limits refresh of many bots: a generator per bot would cost 2.5 KB each).
  template <class Rng>
  static duration wait_after(std::uint32_t failures, duration base, duration cap, Rng& rng) {
    const auto shift = std::min<std::uint32_t>(failures, 20);
    const auto ceiling = std::min<std::int64_t>(base.count() << shift, cap.count());
    std::uniform_int_distribution<std::int64_t> pick(ceiling / 2, ceiling);
    return duration{pick(rng)};
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
