#pragma once
// The last hour's grants of every shard, as the ledger (the journal's one writer) knows them: the
// loop guard counts them, and a shard's outcome report finds the grant it is about. Rebuilt from
// the journal at start and takeover, so neither forgets. Plain C++; the caller supplies the time.
//
// Why a loop guard: a shard process that dies after IDENTIFY and restarts asks again every
// interval; with the default budget of 1,000 one such shard spends the whole day in under 90
// minutes, and every other shard that loses its connection then cannot come back until the reset.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "src/core/records.hpp"
#include "src/core/status.hpp"

namespace gq {

class shard_grants {
 public:
  static constexpr unix_ms k_window_ms = 60 * 60 * 1000;  // the loop guard counts an hour

  // A journaled grant of `shard` (grants without a shard are not guarded or reported on).
  void record(std::uint64_t shard, const grant_row& row) {
    auto& rows = by_shard_[shard];
    const auto at =
        std::upper_bound(rows.begin(), rows.end(), row.released_at,
                         [](unix_ms t, const grant_row& r) { return t < r.released_at; });
    rows.insert(at, row);
  }

  // The grant `row` of `from` went to `to` instead (its waiter hung up after it was journaled).
  void reattribute(const grant_row& row, shard_id from, shard_id to) {
    if (from) {
      if (auto i = by_shard_.find(*from); i != by_shard_.end()) {
        auto& rows = i->second;
        rows.erase(std::remove(rows.begin(), rows.end(), row), rows.end());
        if (rows.empty()) by_shard_.erase(i);
      }
    }
    if (to) record(*to, row);
  }

  // The newest grant of `shard` made at or after `since`.
  std::optional<grant_row> newest(std::uint64_t shard, unix_ms since) const {
    auto i = by_shard_.find(shard);
    if (i == by_shard_.end() || i->second.empty() || i->second.back().released_at < since)
      return std::nullopt;
    return i->second.back();
  }

  // With `limit` grants an hour (> 0): when `shard` may be granted again, nullopt when now.
  std::optional<unix_ms> looping_until(std::uint64_t shard, std::uint32_t limit,
                                       unix_ms now) const {
    auto i = by_shard_.find(shard);
    if (i == by_shard_.end()) return std::nullopt;
    return until(i->second, limit, now);
  }

  // Every shard that is looping at `now`, with when it may be granted again.
  std::vector<looping_shard> looping(std::uint32_t limit, unix_ms now) const {
    std::vector<looping_shard> result;
    if (limit == 0) return result;
    for (const auto& [shard, rows] : by_shard_)
      if (auto at = until(rows, limit, now)) result.push_back({shard, *at});
    std::sort(result.begin(), result.end(),
              [](const looping_shard& a, const looping_shard& b) { return a.shard < b.shard; });
    return result;
  }

  // Forgets grants older than the window: call now and then (memory stays one hour's grants).
  void forget_before(unix_ms now) {
    const auto cutoff = now - k_window_ms;
    for (auto i = by_shard_.begin(); i != by_shard_.end();) {
      auto& rows = i->second;
      rows.erase(rows.begin(),
                 std::lower_bound(rows.begin(), rows.end(), cutoff,
                                  [](const grant_row& r, unix_ms t) { return r.released_at < t; }));
      i = rows.empty() ? by_shard_.erase(i) : std::next(i);
    }
  }

  std::size_t shards() const { return by_shard_.size(); }

 private:
  // The `limit`-th newest grant within the hour before `now` leaves the hour at the returned
  // instant; before then the shard has `limit` grants in the hour.
  static std::optional<unix_ms> until(const std::vector<grant_row>& rows, std::uint32_t limit,
                                      unix_ms now) {
    if (limit == 0 || rows.size() < limit) return std::nullopt;
    const auto& oldest_counted = rows[rows.size() - limit];
    const auto leaves = oldest_counted.released_at + k_window_ms;
    if (leaves <= now) return std::nullopt;
    return leaves;
  }

  std::unordered_map<std::uint64_t, std::vector<grant_row>> by_shard_;  // oldest first
};

}  // namespace gq
