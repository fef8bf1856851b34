#pragma once
// The one rule for a grant's due instant, the instant before which its 200 must not leave.
//
// Its bucket's spacing gives the earliest instant (bucket_pacer: one interval, widened or not,
// after the bucket's previous grant left). The ledger decides the due instant when it commits
// the grant, and journals it as decided: the earliest, unless the commit only begins later (the
// permit was held for budget or limits, or the journal was busy), then the commit's start, so
// that no grant leaves before the instant its row names, which is what a restart paces from.
// Everyone after (the bucket's verdict, the edge's grant writer) uses the journaled instant.

#include <algorithm>
#include <chrono>

namespace gq {

inline std::chrono::steady_clock::time_point grant_due(
    std::chrono::steady_clock::time_point earliest,
    std::chrono::steady_clock::time_point commit_begins) {
  return std::max(earliest, commit_begins);
}

}  // namespace gq
