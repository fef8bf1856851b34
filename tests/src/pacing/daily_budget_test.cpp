#include "src/pacing/daily_budget.hpp"

#include <gtest/gtest.h>

#include "support/contract_death.hpp"

namespace gq {
namespace {

constexpr unix_ms t0 = 1'800'000'000'000;
constexpr unix_ms hour = 3'600'000;

session_limits limits_of(std::uint32_t total, std::uint32_t remaining, unix_ms reset_at) {
  session_limits limits;
  limits.total = total;
  limits.remaining = remaining;
  limits.reset_at = reset_at;
  limits.source = limits_source::discord;
  limits.fetched_at = t0;
  return limits;
}

TEST(daily_budget, unknown_budget_grants_nothing) {
  daily_budget budget;
  EXPECT_FALSE(budget.known());
  EXPECT_EQ(budget.available(), 0u);
  EXPECT_FALSE(budget.roll(t0));
}

TEST(daily_budget, consumes_down_to_zero_and_no_further) {
  daily_budget budget;
  budget.apply(limits_of(1000, 3, t0 + hour), 0, 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_GT(budget.available(), 0u);
    budget.consume();
  }
  EXPECT_EQ(budget.available(), 0u);
}

TEST(daily_budget, effective_remaining_subtracts_grants_since_the_fetch_began) {
  daily_budget budget;
  // Discord said 10 left, but 4 grants were made while the fetch was under way.
  budget.apply(limits_of(1000, 10, t0 + hour), 4, 4);
  EXPECT_EQ(budget.available(), 6u);
}

TEST(daily_budget, effective_remaining_is_capped_by_the_journaled_window) {
  daily_budget budget;
  // Discord lags: it still says 900 left, but the journal holds 998 grants of this window.
  budget.apply(limits_of(1000, 900, t0 + hour), 0, 998);
  EXPECT_EQ(budget.available(), 2u);
}

// The ledger takes a grant, the window resets before its batch commits, a grant of the new
// window joins the batch, and the commit fails: both are refunded.
TEST(daily_budget, refund_of_a_grant_taken_before_the_reset_leaves_the_new_window_whole) {
  daily_budget budget;
  budget.apply(limits_of(10, 10, t0 + hour), 0, 0);
  budget.consume();
  ASSERT_TRUE(budget.roll(t0 + hour));
  budget.consume();
  budget.refund();
  budget.refund();
  EXPECT_EQ(budget.available(), 10u);
}

TEST(daily_budget_contract, consume_without_budget_is_refused) {
  daily_budget budget;
  GQ_EXPECT_CONTRACT_VIOLATION(budget.consume(), "consume without budget");
  budget.apply(limits_of(10, 1, t0 + hour), 0, 0);
  budget.consume();
  GQ_EXPECT_CONTRACT_VIOLATION(budget.consume(), "consume without budget");
}

TEST(daily_budget_contract, refund_without_a_consume_is_refused) {
  daily_budget budget;
  GQ_EXPECT_CONTRACT_VIOLATION(budget.refund(), "refund without a consume");
}

TEST(daily_budget, refund_returns_a_grant_that_was_not_committed) {
  daily_budget budget;
  budget.apply(limits_of(10, 1, t0 + hour), 0, 0);
  budget.consume();
  EXPECT_EQ(budget.available(), 0u);
  budget.refund();
  EXPECT_EQ(budget.available(), 1u);
}

TEST(daily_budget, reset_refills_to_total) {
  daily_budget budget;
  budget.apply(limits_of(10, 0, t0 + hour), 0, 10);
  EXPECT_FALSE(budget.roll(t0 + hour - 1));
  EXPECT_EQ(budget.available(), 0u);
  EXPECT_TRUE(budget.roll(t0 + hour));
  EXPECT_EQ(budget.available(), 10u);
  EXPECT_EQ(budget.reset_at(), t0 + hour + daily_budget::k_day_ms);
}

TEST(daily_budget, reset_long_past_lands_on_the_next_future_boundary) {
  daily_budget budget;
  budget.apply(limits_of(10, 0, t0), 0, 10);
  EXPECT_TRUE(budget.roll(t0 + 3 * daily_budget::k_day_ms + 5));
  EXPECT_EQ(budget.reset_at(), t0 + 4 * daily_budget::k_day_ms);
}

TEST(daily_budget, current_reports_effective_remaining) {
  daily_budget budget;
  budget.apply(limits_of(100, 50, t0 + hour), 5, 60);
  EXPECT_EQ(budget.current().remaining, 40u);
  EXPECT_EQ(budget.current().total, 100u);
}

TEST(daily_budget, remaining_below_grants_since_fetch_is_zero_not_negative) {
  daily_budget budget;
  budget.apply(limits_of(100, 2, t0 + hour), 5, 0);
  EXPECT_EQ(budget.available(), 0u);
}

}  // namespace
}  // namespace gq

namespace gq {
namespace {

TEST(daily_budget, rolled_limits_refill_and_start_at_the_window_boundary) {
  const auto limits = limits_of(10, 0, t0);
  const auto rolled = daily_budget::rolled(limits, t0 + daily_budget::k_day_ms + 7);
  EXPECT_EQ(rolled.remaining, 10u);
  EXPECT_EQ(rolled.reset_at, t0 + 2 * daily_budget::k_day_ms);
  EXPECT_EQ(rolled.fetched_at, t0 + daily_budget::k_day_ms);
  EXPECT_EQ(daily_budget::rolled(limits, t0 - 1), limits) << "not yet reset: unchanged";
}

}  // namespace
}  // namespace gq

namespace gq {
namespace {

TEST(daily_budget, reread_in_the_same_window_never_raises_the_budget) {
  daily_budget budget;
  budget.apply(limits_of(10, 3, t0 + hour), 0, 7);
  for (int i = 0; i < 3; ++i) budget.consume();
  // The shards granted just now have not identified yet: Discord still says 3 left.
  budget.apply(limits_of(10, 3, t0 + hour - 5), 0, 10);
  EXPECT_EQ(budget.available(), 0u);
  budget.apply(limits_of(10, 3, t0 + hour + 5), 0, 0);
  EXPECT_EQ(budget.available(), 0u) << "window grants recounted low: the ratchet still holds";
}

TEST(daily_budget, reread_in_the_same_window_may_lower_the_budget) {
  daily_budget budget;
  budget.apply(limits_of(100, 50, t0 + hour), 0, 0);
  budget.apply(limits_of(100, 20, t0 + hour), 0, 0);
  EXPECT_EQ(budget.available(), 20u);
}

TEST(daily_budget, read_of_a_new_window_takes_discords_remaining) {
  daily_budget budget;
  budget.apply(limits_of(100, 0, t0 + hour), 0, 100);
  budget.apply(limits_of(100, 100, t0 + hour + daily_budget::k_day_ms), 0, 0);
  EXPECT_EQ(budget.available(), 100u);
}

}  // namespace
}  // namespace gq
