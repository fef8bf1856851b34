#include "src/pacing/eta.hpp"

#include <cassert>
#include <functional>
#include <queue>
#include <tuple>

#include "src/pacing/daily_budget.hpp"

namespace gq {

namespace {

constexpr const char* k_unknown = "limits not known yet: grants are held until they are";
constexpr const char* k_refused =
    "daily budget used up before this grant: refused with 429 (QUEUE_ON_EXHAUSTED=reject)";
constexpr const char* k_no_budget = "the daily limit is 0: never granted";

eta_estimate none(const char* reason) { return {std::nullopt, reason}; }

}  // namespace

eta_result estimate_grants(const std::vector<eta_bucket>& buckets, unix_ms interval_ms,
                           const eta_budget& budget, std::optional<eta_place> place) {
  assert(interval_ms > 0 && "estimate_grants needs a positive interval");
  eta_result result;
  result.drain_at.assign(buckets.size(), none("empty"));
  result.remaining_after = budget.remaining;
  result.reset_at = budget.reset_at;
  const bool place_exists = place && place->bucket < buckets.size() && place->position >= 1 &&
                            place->position <= buckets[place->bucket].waiting;
  if (place && !place_exists) result.place = none("not waiting");

  if (!budget.known) {
    for (std::size_t b = 0; b < buckets.size(); ++b)
      if (buckets[b].waiting > 0) result.drain_at[b] = none(k_unknown);
    if (place_exists) result.place = none(k_unknown);
    return result;
  }

  // Candidates, earliest first: (time of the bucket's next grant, bucket).
  using candidate = std::tuple<unix_ms, std::uint32_t>;
  std::priority_queue<candidate, std::vector<candidate>, std::greater<>> next;
  std::vector<std::uint64_t> granted(buckets.size(), 0);
  for (std::size_t b = 0; b < buckets.size(); ++b)
    if (buckets[b].waiting > 0) next.emplace(buckets[b].head_at, static_cast<std::uint32_t>(b));

  std::uint64_t left = budget.remaining;
  unix_ms reset_at = budget.reset_at;
  auto give_up = [&](std::uint32_t b, const char* reason) {
    result.drain_at[b] = none(reason);
    if (place_exists && place->bucket == b && place->position > granted[b])
      result.place = none(reason);
  };

  while (!next.empty()) {
    const auto [at, b] = next.top();
    next.pop();
    while (at >= reset_at) {  // a window ended before this grant: the budget refills
      reset_at += daily_budget::k_day_ms;
      left = budget.total;
    }
    if (left == 0) {
      if (budget.reject_when_exhausted) {
        give_up(b, k_refused);
      } else if (budget.total == 0) {
        give_up(b, k_no_budget);
      } else {
        next.emplace(reset_at, b);  // the ledger holds the permit until the window ends
      }
      continue;
    }
    --left;
    ++granted[b];
    ++result.granted;
    if (at >= budget.reset_at) ++result.granted_after_reset;
    if (place_exists && place->bucket == b && place->position == granted[b])
      result.place = {at, {}};
    if (granted[b] < buckets[b].waiting)
      next.emplace(at + (buckets[b].interval_ms > 0 ? buckets[b].interval_ms : interval_ms), b);
    else
      result.drain_at[b] = {at, {}};
  }
  result.remaining_after = left;
  result.reset_at = reset_at;
  return result;
}

}  // namespace gq
