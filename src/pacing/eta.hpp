#pragma once
// When will the waiters be granted? The pacing rules, run forward on paper: the one owner of
// that arithmetic, shared by GET /status (estimates for the shards waiting now) and
// `gateway-queue plan` (a boot that has not started). Plain C++; the caller supplies every time.
//
// The model, the same rules the buckets and the ledger enforce (docs/DESIGN.md):
//  - within a bucket, FIFO; its first waiter is granted at `head_at`, each next one an identify
//    interval (or the bucket's own, wider, spacing) after the previous grant;
//  - the daily budget is consumed across buckets in grant-time order (ties: lower bucket first);
//    once it is used up, a grant due before the reset waits for it (hold), or that bucket's
//    waiters are refused (reject); at each reset the budget refills to `total`;
//  - limits unknown: nothing can be estimated (grants are held until limits are known).
// Estimates do not foresee hang-ups, new arrivals ahead of a waiter (there are none: FIFO),
// limit changes from Discord or the ~0.2 ms by which a real grant leaves after it is due.
//
// Cost: one step per waiter estimated, O(W log B) for W waiters in B buckets (100,000 waiters:
// a few milliseconds), so it is run off the networking thread.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/core/records.hpp"

namespace gq {

// One bucket as it stands.
struct eta_bucket {
  unix_ms head_at = 0;        // when its first waiter may be granted by spacing alone
  std::uint64_t waiting = 0;  // waiters in line, FIFO
  unix_ms interval_ms = 0;    // its spacing when widened after Invalid Sessions; 0: the interval
};

// The daily budget as it stands.
struct eta_budget {
  bool known = false;                  // false: limits not known yet, nothing is granted
  std::uint64_t remaining = 0;         // grants that may still be made before reset_at
  std::uint64_t total = 0;             // the budget of each later window
  unix_ms reset_at = 0;                // when remaining refills to total
  bool reject_when_exhausted = false;  // QUEUE_ON_EXHAUSTED=reject
};

// An estimated grant time, or why there is none.
struct eta_estimate {
  std::optional<unix_ms> at;
  std::string reason;  // set exactly when `at` is empty
};

// The `position`-th waiter (1 = next) of bucket `bucket`.
struct eta_place {
  std::uint32_t bucket = 0;
  std::uint64_t position = 1;
};

struct eta_result {
  // Per bucket: when its last current waiter is granted. Empty bucket: no time, reason "empty".
  std::vector<eta_estimate> drain_at;
  eta_estimate place;                     // the asked waiter, if one was asked
  std::uint64_t granted = 0;              // waiters given a time
  std::uint64_t granted_after_reset = 0;  // of those, how many at or after budget.reset_at
  // The budget once every estimated grant is made: left in the window ending at `reset_at`.
  std::uint64_t remaining_after = 0;
  unix_ms reset_at = 0;
};

// Estimates the grant times of every waiter of `buckets` (index = bucket number).
// Precondition: interval_ms > 0 (checked in debug builds). With `place`, also that waiter's time
// (no time when the bucket or position does not exist: reason "not waiting").
eta_result estimate_grants(const std::vector<eta_bucket>& buckets, unix_ms interval_ms,
                           const eta_budget& budget, std::optional<eta_place> place = {});

}  // namespace gq
