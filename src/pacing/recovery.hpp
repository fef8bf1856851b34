#pragma once
// Where pacing resumes after a restart, from what the journal remembers.

#include <chrono>
#include <cstdint>
#include <vector>

#include "src/core/records.hpp"

namespace gq {

// The journal stamps a grant with its due time; its 200 reaches the socket a little later (well
// under a millisecond on a quiet machine, 25 ms was seen on a loaded 2-core one). A queue that
// resumes from the journal (a restart, a standby taking over) waits this much longer than the
// interval so that the gap a client sees is never short. Where a standby can take over (a
// PostgreSQL journal) the edge never writes a grant later than this after its due instant (it
// answers 503 instead): a process frozen with journaled grants in hand, resumed after another
// took over, cannot deliver them late.
constexpr std::chrono::milliseconds k_recovery_margin{100};

// The earliest unix time at which each of `max_concurrency` buckets may grant again: the interval
// (plus k_recovery_margin) after that bucket's last journaled grant, or, when the journal's last
// grants were made under another max_concurrency, after the last grant of any bucket.
// 0 means "at once".
inline std::vector<unix_ms> resume_times(const recovery_state& recovered,
                                         std::uint32_t max_concurrency,
                                         std::chrono::milliseconds interval) {
  const auto gap = (interval + k_recovery_margin).count();
  std::vector<unix_ms> result(max_concurrency, 0);
  if (!recovered.last_release_at) return result;
  if (recovered.last_max_concurrency != max_concurrency) {
    for (auto& at : result) at = *recovered.last_release_at + gap;
    return result;
  }
  for (std::uint32_t bucket = 0; bucket < max_concurrency; ++bucket) {
    if (bucket < recovered.last_release_by_bucket.size() &&
        recovered.last_release_by_bucket[bucket])
      result[bucket] = *recovered.last_release_by_bucket[bucket] + gap;
  }
  return result;
}

}  // namespace gq
