#pragma once
// How much wider than the identify interval one bucket is spaced, after its shards reported
// Invalid Sessions soon after their grants. Plain C++; the caller supplies the time.
//
// Why: Discord counts its 5 s where the IDENTIFY arrives, the queue where the 200 leaves. A
// client that is slow between the two (a busy event loop, a library that connects after the
// grant) lands two IDENTIFYs closer than the interval and gets op 9. The queue hears about it
// from the shard (POST /outcome) and spaces that bucket one step wider, up to a maximum; each
// hour without another Invalid Session narrows it by a step.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "src/core/records.hpp"

namespace gq {

struct widening_rule {
  std::chrono::milliseconds step{1000};  // QUEUE_WIDEN_STEP_MS
  std::chrono::milliseconds max{5000};   // QUEUE_WIDEN_MAX_MS; 0: never widen
};

class bucket_widening {
 public:
  // An Invalid Session reported later than this after its grant is not the spacing's fault.
  static constexpr unix_ms k_report_window_ms = 30'000;
  // Each such period without another Invalid Session narrows the bucket by one step.
  static constexpr unix_ms k_narrow_period_ms = 60 * 60 * 1000;

  explicit bucket_widening(widening_rule rule = {}) : rule_(rule) {}

  // The grant at `granted_at` became an Invalid Session, reported at `reported_at`. Returns true
  // when that widened the bucket (reported within k_report_window_ms and below the maximum).
  bool on_invalid_session(unix_ms granted_at, unix_ms reported_at) {
    if (reported_at < granted_at || reported_at - granted_at > k_report_window_ms) return false;
    const auto before = extra(reported_at);
    const auto after = std::min(before + rule_.step, rule_.max);
    if (after <= before) return false;
    extra_ = after;
    since_ = reported_at;
    return true;
  }

  // How much wider than the interval the bucket is spaced at `now`.
  std::chrono::milliseconds extra(unix_ms now) const {
    if (extra_.count() == 0 || now <= since_) return extra_;
    const auto periods = (now - since_) / k_narrow_period_ms;
    const auto narrowed = rule_.step * periods;
    return narrowed >= extra_ ? std::chrono::milliseconds{0} : extra_ - narrowed;
  }

  // A bucket's widening travels with it when the bucket rests (actors/messages.hpp).
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, bucket_widening& x) {
    return f(x.rule_.step, x.rule_.max, x.extra_, x.since_);
  }

 private:
  widening_rule rule_;
  std::chrono::milliseconds extra_{0};  // as of since_
  unix_ms since_ = 0;                   // when it last widened
};

// Each of `max_concurrency` buckets' widening as the journaled Invalid Sessions left it (`reports`
// oldest first; those of grants under another max_concurrency belong to no bucket of today's).
inline std::vector<bucket_widening> widening_from(
    const std::vector<reported_invalid_session>& reports, std::uint32_t max_concurrency,
    widening_rule rule) {
  std::vector<bucket_widening> result(max_concurrency, bucket_widening(rule));
  for (const auto& report : reports) {
    if (report.row.max_concurrency != max_concurrency || report.row.bucket >= max_concurrency)
      continue;
    result[report.row.bucket].on_invalid_session(report.row.released_at, report.reported_at);
  }
  return result;
}

}  // namespace gq
