#include "src/pacing/eta.hpp"

#include <gtest/gtest.h>

#include "src/pacing/boot_plan.hpp"
#include "src/pacing/daily_budget.hpp"
#include "support/contract_death.hpp"

namespace gq {
namespace {

constexpr unix_ms t0 = 1'800'000'000'000;
constexpr unix_ms day = daily_budget::k_day_ms;

eta_budget plenty() { return {true, 1000, 1000, t0 + day, false}; }

TEST(eta, fifo_within_a_bucket_spaced_by_the_interval_from_the_head) {
  const auto r = estimate_grants({{t0 + 700, 4}}, 5000, plenty(), eta_place{0, 3});
  ASSERT_TRUE(r.place.at);
  EXPECT_EQ(*r.place.at, t0 + 700 + 2 * 5000);
  ASSERT_TRUE(r.drain_at[0].at);
  EXPECT_EQ(*r.drain_at[0].at, t0 + 700 + 3 * 5000);
  EXPECT_EQ(r.granted, 4u);
  EXPECT_EQ(r.remaining_after, 996u);
}

TEST(eta, buckets_are_independent_and_an_empty_one_has_no_drain_time) {
  const auto r = estimate_grants({{t0, 2}, {t0 + 3000, 0}, {t0 + 100, 1}}, 1000, plenty());
  EXPECT_EQ(r.drain_at[0].at, t0 + 1000);
  EXPECT_FALSE(r.drain_at[1].at);
  EXPECT_EQ(r.drain_at[1].reason, "empty");
  EXPECT_EQ(r.drain_at[2].at, t0 + 100);
}

TEST(eta, position_beyond_the_line_or_unknown_bucket_is_not_waiting) {
  const auto r = estimate_grants({{t0, 2}}, 1000, plenty(), eta_place{0, 3});
  EXPECT_FALSE(r.place.at);
  EXPECT_EQ(r.place.reason, "not waiting");
  const auto other = estimate_grants({{t0, 2}}, 1000, plenty(), eta_place{4, 1});
  EXPECT_EQ(other.place.reason, "not waiting");
}

TEST(eta, unknown_limits_give_no_estimate_but_a_reason) {
  eta_budget unknown;
  const auto r = estimate_grants({{t0, 2}, {t0, 0}}, 1000, unknown, eta_place{0, 1});
  EXPECT_FALSE(r.place.at);
  EXPECT_NE(r.place.reason.find("limits not known"), std::string::npos);
  EXPECT_FALSE(r.drain_at[0].at);
  EXPECT_NE(r.drain_at[0].reason.find("limits not known"), std::string::npos);
  EXPECT_EQ(r.drain_at[1].reason, "empty");
}

TEST(eta, budget_is_consumed_across_buckets_in_grant_time_order_then_held_until_the_reset) {
  // Bucket 0 grants at t0, t0+1000, t0+2000; bucket 1 at t0+500, t0+1500. Budget 3 before the
  // reset at t0+10000: t0, t0+500, t0+1000 get it; bucket 1's second and bucket 0's third wait.
  const eta_budget budget{true, 3, 100, t0 + 10'000, false};
  const std::vector<eta_bucket> line{{t0, 3}, {t0 + 500, 2}};
  const auto third_of_0 = estimate_grants(line, 1000, budget, eta_place{0, 3});
  EXPECT_EQ(third_of_0.place.at, t0 + 10'000);
  EXPECT_EQ(third_of_0.drain_at[0].at, t0 + 10'000);
  EXPECT_EQ(third_of_0.drain_at[1].at, t0 + 10'000);
  EXPECT_EQ(third_of_0.granted_after_reset, 2u);
  EXPECT_EQ(third_of_0.remaining_after, 98u);
  EXPECT_EQ(third_of_0.reset_at, t0 + 10'000 + day);
  const auto second_of_0 = estimate_grants(line, 1000, budget, eta_place{0, 2});
  EXPECT_EQ(second_of_0.place.at, t0 + 1000);
}

TEST(eta, a_widened_bucket_is_estimated_at_its_own_spacing) {
  const auto r = estimate_grants({{t0, 3, 7000}, {t0, 3}}, 5000, plenty(), eta_place{0, 3});
  EXPECT_EQ(r.place.at, t0 + 14'000);
  EXPECT_EQ(r.drain_at[0].at, t0 + 14'000);
  EXPECT_EQ(r.drain_at[1].at, t0 + 10'000);
}

TEST(eta, after_a_held_grant_the_bucket_paces_from_the_reset) {
  const eta_budget budget{true, 0, 10, t0 + 2000, false};
  const auto r = estimate_grants({{t0, 3}}, 5000, budget, eta_place{0, 2});
  EXPECT_EQ(r.place.at, t0 + 2000 + 5000);
  EXPECT_EQ(r.drain_at[0].at, t0 + 2000 + 10'000);
}

TEST(eta, a_long_line_crosses_several_resets) {
  // total 2 a day, 5 waiters: two now, two at the reset, one a day later.
  const eta_budget budget{true, 2, 2, t0 + 1000, false};
  const auto r = estimate_grants({{t0, 5}}, 10, budget, eta_place{0, 5});
  EXPECT_EQ(r.place.at, t0 + 1000 + day);
  EXPECT_EQ(r.remaining_after, 1u);
  EXPECT_EQ(r.reset_at, t0 + 1000 + 2 * day);
}

TEST(eta, a_reset_already_passed_refills_before_the_first_grant) {
  const eta_budget budget{true, 0, 5, t0 - 1, false};
  const auto r = estimate_grants({{t0, 2}}, 100, budget, eta_place{0, 1});
  EXPECT_EQ(r.place.at, t0);
  EXPECT_EQ(r.remaining_after, 3u);
}

TEST(eta, under_reject_waiters_beyond_the_budget_are_refused) {
  const eta_budget budget{true, 1, 10, t0 + 60'000, true};
  const auto r = estimate_grants({{t0, 3}}, 1000, budget, eta_place{0, 2});
  EXPECT_FALSE(r.place.at);
  EXPECT_NE(r.place.reason.find("reject"), std::string::npos);
  EXPECT_FALSE(r.drain_at[0].at);
  EXPECT_EQ(r.granted, 1u);
  const auto first = estimate_grants({{t0, 3}}, 1000, budget, eta_place{0, 1});
  EXPECT_EQ(first.place.at, t0);
}

TEST(eta, a_zero_daily_limit_never_grants_and_does_not_loop) {
  const eta_budget budget{true, 0, 0, t0 + 1000, false};
  const auto r = estimate_grants({{t0, 2}}, 1000, budget, eta_place{0, 1});
  EXPECT_FALSE(r.place.at);
  EXPECT_FALSE(r.drain_at[0].at);
}

TEST(boot_plan, forty_shards_four_buckets_take_nine_intervals) {
  const auto plan = plan_boot(40, 4, 200, plenty(), t0);
  ASSERT_EQ(plan.buckets.size(), 4u);
  for (const auto& b : plan.buckets) {
    EXPECT_EQ(b.shards, 10u);
    EXPECT_EQ(b.last_grant.at, t0 + 9 * 200);
  }
  EXPECT_EQ(plan.last_grant.at, t0 + 1800);
  EXPECT_EQ(plan.remaining_after, 960u);
  EXPECT_FALSE(plan.waits_for_reset);
  EXPECT_EQ(plan.after_reset, 0u);
}

TEST(boot_plan, uneven_buckets_and_more_buckets_than_shards) {
  const auto plan = plan_boot(10, 4, 5000, plenty(), t0);
  EXPECT_EQ(plan.buckets[0].shards, 3u);
  EXPECT_EQ(plan.buckets[3].shards, 2u);
  EXPECT_EQ(plan.last_grant.at, t0 + 10'000);
  const auto sparse = plan_boot(2, 16, 5000, plenty(), t0);
  EXPECT_EQ(sparse.last_grant.at, t0);
  EXPECT_FALSE(sparse.buckets[5].last_grant.at);
}

TEST(boot_plan, more_shards_than_remaining_wait_for_the_reset) {
  const eta_budget budget{true, 30, 1000, t0 + 3'600'000, false};
  const auto plan = plan_boot(40, 4, 200, budget, t0);
  EXPECT_TRUE(plan.waits_for_reset);
  EXPECT_EQ(plan.after_reset, 10u);
  // Rounds of 4 grants at t0 + 200 k: the budget of 30 covers rounds 0-6 (28) and buckets 0 and
  // 1 of round 7. Buckets 0 and 1 then have 2 shards left, buckets 2 and 3 have 3, paced from
  // the reset.
  EXPECT_EQ(plan.buckets[0].last_grant.at, t0 + 3'600'000 + 200);
  EXPECT_EQ(plan.buckets[3].last_grant.at, t0 + 3'600'000 + 2 * 200);
  EXPECT_EQ(plan.last_grant.at, t0 + 3'600'000 + 400);
  EXPECT_EQ(plan.remaining_after, 990u);
}

TEST(eta_contract, a_zero_interval_is_refused) {
  GQ_EXPECT_CONTRACT_VIOLATION(estimate_grants({eta_bucket{}}, 0, plenty()), "positive interval");
  GQ_EXPECT_CONTRACT_VIOLATION(plan_boot(1, 1, 0, plenty(), t0), "positive interval");
}

TEST(eta_contract, a_plan_without_buckets_is_refused) {
  GQ_EXPECT_CONTRACT_VIOLATION(plan_boot(1, 0, 5000, plenty(), t0), "at least one bucket");
}

}  // namespace
}  // namespace gq
