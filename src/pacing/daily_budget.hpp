#pragma once
// The daily session-start budget: one authority (the ledger actor) asks it before every grant.
// Plain C++; the caller supplies the time.
//
// Invariant: consume() never takes the effective remaining below zero, where
//   effective remaining = min(Discord's remaining minus grants made since that fetch began,
//                             total minus grants journaled in the current window),
// and a re-read within the same window never raises it. Discord's own count lags ours (a shard
// identifies only after its grant), hence both terms and the ratchet.

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <optional>

#include "src/core/records.hpp"

namespace gq {

// The reserve for reconnects in force for a daily total of `total` (QUEUE_RESERVE): the value
// configured, else 5 % of the total, rounded up. A boot (initial=true) is not granted from it.
constexpr std::uint32_t reserve_for(std::optional<std::uint32_t> configured, std::uint32_t total) {
  return configured ? *configured
                    : static_cast<std::uint32_t>((std::uint64_t{total} * 5 + 99) / 100);
}

class daily_budget {
 public:
  static constexpr unix_ms k_day_ms = 24 * 60 * 60 * 1000;
  // Two reads whose reset times differ by less than this describe the same daily window.
  static constexpr unix_ms k_same_window_ms = 60 * 60 * 1000;

  // False until limits are applied: nothing may be granted while the budget is unknown.
  bool known() const { return known_; }

  // Takes fetched, configured or journaled limits.
  //   grants_since_fetch_began: grants this queue made after the fetch was started.
  //   grants_in_window: grants journaled since the window began (limits.reset_at - 24 h).
  void apply(const session_limits& limits, std::uint64_t grants_since_fetch_began,
             std::uint64_t grants_in_window) {
    const std::uint64_t fresh = limits.remaining > grants_since_fetch_began
                                    ? limits.remaining - grants_since_fetch_began
                                    : 0;
    // Within one window a re-read never raises the budget: Discord has not yet counted grants
    // whose shards are still connecting, while source_left_ already has.
    const bool same_window = known_ && limits.reset_at > limits_.reset_at - k_same_window_ms &&
                             limits.reset_at < limits_.reset_at + k_same_window_ms;
    source_left_ = same_window ? std::min(source_left_, fresh) : fresh;
    known_ = true;
    limits_ = limits;
    window_grants_ = grants_in_window;
  }

  // At or after the reset, a new window begins: remaining refills to total.
  // Returns true when a window ended (the caller re-reads limits then).
  bool roll(unix_ms now) {
    if (!known_ || now < limits_.reset_at) return false;
    const auto windows_passed = (now - limits_.reset_at) / k_day_ms + 1;
    limits_.reset_at += windows_passed * k_day_ms;
    source_left_ = limits_.total;
    window_grants_ = 0;
    return true;
  }

  // Grants that may still be made before the reset.
  std::uint64_t available() const {
    if (!known_) return 0;
    const std::uint64_t window_left =
        limits_.total > window_grants_ ? limits_.total - window_grants_ : 0;
    return std::min(source_left_, window_left);
  }

  // Takes one grant. Precondition: available() > 0 (checked in debug builds).
  void consume() {
    assert(available() > 0 && "daily_budget::consume without budget");
    --source_left_;
    ++window_grants_;
  }

  // Gives back a grant taken by consume() that was never made (its journal commit failed).
  // Precondition: consume() was called (checked in debug builds). A grant taken before a roll()
  // is not in the new window's count: giving it back leaves that count alone.
  void refund() {
    assert(known_ && "daily_budget::refund without a consume");
    ++source_left_;
    if (window_grants_ > 0) --window_grants_;
  }

  // The limits in force, with `remaining` replaced by the effective remaining.
  session_limits current() const {
    auto result = limits_;
    result.remaining = static_cast<std::uint32_t>(std::min<std::uint64_t>(available(), UINT32_MAX));
    return result;
  }

  // `limits` carried past a reset that has already happened by `now`: remaining refills to total
  // and fetched_at becomes the start of the window that `now` is in.
  static session_limits rolled(session_limits limits, unix_ms now) {
    if (now < limits.reset_at) return limits;
    const auto windows_passed = (now - limits.reset_at) / k_day_ms + 1;
    limits.reset_at += windows_passed * k_day_ms;
    limits.fetched_at = limits.reset_at - k_day_ms;
    limits.remaining = limits.total;
    return limits;
  }

  unix_ms reset_at() const { return limits_.reset_at; }

 private:
  bool known_ = false;
  session_limits limits_;
  std::uint64_t source_left_ = 0;    // Discord's remaining minus our grants since its fetch
  std::uint64_t window_grants_ = 0;  // our grants since the window began
};

}  // namespace gq
