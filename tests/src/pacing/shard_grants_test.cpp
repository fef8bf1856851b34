// src/pacing/shard_grants.hpp: the loop guard's count of a shard's grants in the last hour, the
// grant an outcome report is about, and a grant passed to another shard.
#include "src/pacing/shard_grants.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gq {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr unix_ms k_hour = shard_grants::k_window_ms;

grant_row row(unix_ms at, std::uint32_t bucket = 0) { return {at, bucket, 1}; }

TEST(shard_grants, a_shard_loops_at_the_limit_until_its_oldest_grant_of_the_hour_is_an_hour_old) {
  shard_grants grants;
  grants.record(5, row(1000));
  grants.record(5, row(2000));
  EXPECT_EQ(grants.looping_until(5, 3, 2500), std::nullopt);
  grants.record(5, row(3000));
  EXPECT_EQ(grants.looping_until(5, 3, 3500), 1000 + k_hour);
  EXPECT_EQ(grants.looping_until(5, 3, 1000 + k_hour), std::nullopt);
  EXPECT_EQ(grants.looping_until(5, 0, 3500), std::nullopt) << "limit 0: the guard is off";
  EXPECT_EQ(grants.looping_until(6, 1, 3500), std::nullopt);
  EXPECT_THAT(grants.looping(3, 3500), ElementsAre(looping_shard{5, 1000 + k_hour}));
}

TEST(shard_grants, grants_recorded_out_of_order_count_by_time) {
  shard_grants grants;
  grants.record(5, row(3000));
  grants.record(5, row(1000));
  EXPECT_EQ(grants.looping_until(5, 1, 3500), 3000 + k_hour) << "the newest one counts";
  EXPECT_EQ(grants.newest(5, 0), row(3000));
}

TEST(shard_grants, newest_is_the_latest_grant_not_older_than_the_bound) {
  shard_grants grants;
  EXPECT_EQ(grants.newest(5, 0), std::nullopt);
  grants.record(5, row(1000, 1));
  grants.record(5, row(2000, 1));
  EXPECT_EQ(grants.newest(5, 1500), row(2000, 1));
  EXPECT_EQ(grants.newest(5, 2001), std::nullopt);
}

TEST(shard_grants, a_grant_passed_to_another_shard_moves_with_it) {
  shard_grants grants;
  grants.record(5, row(1000));
  grants.reattribute(row(1000), 5, 7);
  EXPECT_EQ(grants.newest(5, 0), std::nullopt);
  EXPECT_EQ(grants.newest(7, 0), row(1000));
  grants.reattribute(row(1000), 7, shard_id{});
  EXPECT_EQ(grants.shards(), 0u) << "a grant to a request without a shard is not tracked";
}

TEST(shard_grants, forgetting_keeps_only_the_last_hour) {
  shard_grants grants;
  grants.record(5, row(1000));
  grants.record(6, row(1000 + k_hour));
  grants.forget_before(1000 + k_hour + 1);
  EXPECT_EQ(grants.shards(), 1u);
  EXPECT_EQ(grants.newest(5, 0), std::nullopt);
  EXPECT_THAT(grants.looping(1, 5000 + 2 * k_hour), IsEmpty());
}

}  // namespace
}  // namespace gq
