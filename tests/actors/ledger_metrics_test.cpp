// The ledger's counters behind /metrics, on CAF's test coordinator: journal commit durations,
// the last grant's time, and whether Discord is needed at all.
#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

using ledger_metrics = actor_fixture;

TEST_F(ledger_metrics, every_journal_transaction_is_timed_once) {
  start(configured(1000, 2), 1000ms);
  // At start the configured limits are journaled: one transaction.
  auto status = ask<ledger_status>(ledger_, status_atom::value, k_bot);
  EXPECT_EQ(status.commit_seconds.total(), 1u);
  EXPECT_EQ(status.commit_seconds.counts.size(), commit_histogram_bounds().size());
  // Each grant is committed (here one at a time: each enqueue runs to completion).
  enqueue(1, 0);
  ASSERT_TRUE(granted(1));
  EXPECT_EQ(ask<ledger_status>(ledger_, status_atom::value, k_bot).commit_seconds.total(), 2u);
  enqueue(2, 1);
  ASSERT_TRUE(granted(2));
  status = ask<ledger_status>(ledger_, status_atom::value, k_bot);
  EXPECT_EQ(status.commit_seconds.total(), 3u);
  EXPECT_GT(status.commit_seconds.sum, 0.0);
  EXPECT_EQ(status.grants_total, 2u);
}

TEST_F(ledger_metrics, last_grant_time_is_zero_before_the_first_and_then_the_newest_release) {
  start(configured(1000, 1), 1000ms);
  EXPECT_EQ(ask<ledger_status>(ledger_, status_atom::value, k_bot).last_grant_at, 0);
  enqueue(1, 0);
  ASSERT_TRUE(granted(1));
  EXPECT_EQ(ask<ledger_status>(ledger_, status_atom::value, k_bot).last_grant_at,
            verdict_of(1)->result.at);
  enqueue(2, 0);
  advance(1000ms);
  ASSERT_TRUE(granted(2));
  const auto last = ask<ledger_status>(ledger_, status_atom::value, k_bot).last_grant_at;
  EXPECT_EQ(last, verdict_of(2)->result.at);
  EXPECT_GE(last, k_wall_start + 1000);
}

TEST_F(ledger_metrics, discord_is_up_when_limits_come_from_the_configuration) {
  start(configured(1000, 1));
  const auto status = ask<ledger_status>(ledger_, status_atom::value, k_bot);
  EXPECT_TRUE(status.discord_up);
  EXPECT_EQ(status.refreshes.ok + status.refreshes.error, 0u) << "Discord is never read";
}

TEST_F(ledger_metrics, discord_is_down_until_a_read_succeeds_when_a_token_is_set) {
  start(std::nullopt);
  EXPECT_FALSE(ask<ledger_status>(ledger_, status_atom::value, k_bot).discord_up);
}

}  // namespace
}  // namespace gq::testing
