#include "src/pacing/clock_anchor.hpp"

#include <gtest/gtest.h>

namespace gq {
namespace {

using namespace std::chrono_literals;

// An anchor taken 0.7 ms into unix millisecond 1,000,000.
const clock_anchor k_anchor{clock_anchor::time_point{} + 50s, 1'000'000, 700us};

TEST(clock_anchor, a_unix_millisecond_begins_at_its_exact_instant) {
  EXPECT_EQ(k_anchor.from_unix(1'000'001), k_anchor.steady + 300us);
  EXPECT_EQ(k_anchor.from_unix(1'000'000), k_anchor.steady - 700us);
}

TEST(clock_anchor, an_instant_belongs_to_the_millisecond_that_contains_it) {
  EXPECT_EQ(k_anchor.to_unix(k_anchor.steady), 1'000'000);
  EXPECT_EQ(k_anchor.to_unix(k_anchor.steady + 299us), 1'000'000);
  EXPECT_EQ(k_anchor.to_unix(k_anchor.steady + 300us), 1'000'001);
  EXPECT_EQ(k_anchor.to_unix(k_anchor.steady - 701us), 999'999) << "floors before the anchor too";
}

TEST(clock_anchor, round_trips_whole_milliseconds) {
  for (unix_ms t = 999'990; t < 1'000'010; ++t)
    EXPECT_EQ(k_anchor.to_unix(k_anchor.from_unix(t)), t);
}

TEST(clock_anchor, now_agrees_with_the_wall_clock) {
  const auto anchor = clock_anchor::now();
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  EXPECT_LT(anchor.wall_fraction, 1ms);
  EXPECT_LE(anchor.to_unix(std::chrono::steady_clock::now()) - wall, 1);
  EXPECT_GE(anchor.to_unix(std::chrono::steady_clock::now()) - wall, -1);
}

}  // namespace
}  // namespace gq
