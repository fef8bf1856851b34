// src/pacing/bucket_widening.hpp: which Invalid Sessions widen a bucket, by how much, and how it
// narrows back, with the time passed in.
#include "src/pacing/bucket_widening.hpp"

#include <gtest/gtest.h>

namespace gq {
namespace {

using namespace std::chrono_literals;

constexpr unix_ms k_hour = bucket_widening::k_narrow_period_ms;

TEST(bucket_widening, an_invalid_session_soon_after_its_grant_widens_by_a_step_up_to_the_max) {
  bucket_widening w({1000ms, 2500ms});
  EXPECT_EQ(w.extra(0), 0ms);
  EXPECT_TRUE(w.on_invalid_session(1000, 1300));
  EXPECT_EQ(w.extra(1300), 1000ms);
  EXPECT_TRUE(w.on_invalid_session(6000, 6100));
  EXPECT_TRUE(w.on_invalid_session(8000, 8100));
  EXPECT_EQ(w.extra(8100), 2500ms) << "capped at the maximum";
  EXPECT_FALSE(w.on_invalid_session(9000, 9100)) << "at the maximum nothing changes";
}

TEST(bucket_widening, a_report_later_than_30_s_after_its_grant_or_before_it_does_not_widen) {
  bucket_widening w({1000ms, 5000ms});
  EXPECT_TRUE(w.on_invalid_session(0, bucket_widening::k_report_window_ms));
  EXPECT_FALSE(w.on_invalid_session(0, bucket_widening::k_report_window_ms + 1));
  EXPECT_FALSE(w.on_invalid_session(1000, 999));
  EXPECT_EQ(w.extra(40'000), 1000ms);
}

TEST(bucket_widening, each_hour_without_another_narrows_by_a_step) {
  bucket_widening w({1000ms, 5000ms});
  for (unix_ms t : {0, 10, 20}) w.on_invalid_session(t, t + 1);
  EXPECT_EQ(w.extra(21), 3000ms);
  EXPECT_EQ(w.extra(21 + k_hour - 1), 3000ms);
  EXPECT_EQ(w.extra(21 + k_hour), 2000ms);
  EXPECT_EQ(w.extra(21 + 3 * k_hour), 0ms);
  EXPECT_EQ(w.extra(21 + 30 * k_hour), 0ms);
  EXPECT_TRUE(w.on_invalid_session(21 + k_hour, 22 + k_hour)) << "from the narrowed value";
  EXPECT_EQ(w.extra(22 + k_hour), 3000ms);
}

TEST(bucket_widening, a_maximum_of_zero_never_widens) {
  bucket_widening w({1000ms, 0ms});
  EXPECT_FALSE(w.on_invalid_session(0, 1));
  EXPECT_EQ(w.extra(1), 0ms);
}

TEST(bucket_widening, widening_from_the_journal_replays_each_buckets_reports) {
  const std::vector<reported_invalid_session> reports{
      {{1000, 1, 4}, 1200},   // bucket 1
      {{2000, 1, 4}, 2100},   // bucket 1 again
      {{3000, 2, 8}, 3100},   // another max_concurrency: no bucket of today's
      {{4000, 3, 4}, 40000},  // reported too late
  };
  const auto widened = widening_from(reports, 4, {500ms, 5000ms});
  ASSERT_EQ(widened.size(), 4u);
  EXPECT_EQ(widened[0].extra(5000), 0ms);
  EXPECT_EQ(widened[1].extra(5000), 1000ms);
  EXPECT_EQ(widened[2].extra(5000), 0ms);
  EXPECT_EQ(widened[3].extra(50000), 0ms);
}

}  // namespace
}  // namespace gq
