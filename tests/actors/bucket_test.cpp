// The grant path through gate, bucket and ledger, on CAF's test coordinator with a fake clock.
#include "actors/bucket.hpp"

#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

using bucket_flow = actor_fixture;

TEST_F(bucket_flow, idle_bucket_grants_at_once_and_journals_first) {
  start(configured(1000));
  enqueue(1, 0);
  ASSERT_TRUE(granted(1));
  const auto rows = journal_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].shard, 0u);
  EXPECT_EQ(rows[0].bucket, 0u);
  EXPECT_EQ(rows[0].released_at, verdict_of(1)->result.at);
}

TEST_F(bucket_flow, same_bucket_is_serial_at_the_interval) {
  start(configured(1000), 5000ms);
  enqueue(1, 0);
  enqueue(2, 0);
  ASSERT_TRUE(granted(1));
  EXPECT_FALSE(granted(2));
  advance(4999ms);
  EXPECT_FALSE(granted(2)) << "never less than the interval after the previous grant";
  advance(1ms);
  ASSERT_TRUE(granted(2));
  EXPECT_EQ(verdict_of(2)->at - verdict_of(1)->at, 5000ms);
}

TEST_F(bucket_flow, permit_is_journaled_ahead_and_delivered_at_the_due_instant) {
  start(configured(1000), 5000ms);
  enqueue(1, 0);
  enqueue(2, 0);
  advance(5000ms - k_permit_lead);
  ASSERT_EQ(journal_rows().size(), 2u) << "committed ahead of time";
  EXPECT_EQ(journal_rows().front().released_at, k_wall_start + 5000) << "stamped with the due time";
  EXPECT_FALSE(granted(2)) << "but not sent before it is due";
  advance(k_permit_lead);
  ASSERT_TRUE(granted(2));
  EXPECT_EQ(verdict_of(2)->result.at, k_wall_start + 5000);
  EXPECT_EQ(verdict_of(2)->result.due, verdict_of(1)->at.time_since_epoch() + 5000ms)
      << "handed to the edge with the instant it may leave";
  EXPECT_EQ(verdict_of(2)->at - verdict_of(1)->at, 5000ms);
}

TEST_F(bucket_flow, hang_up_after_the_early_commit_never_reaches_the_client) {
  start(configured(1000), 5000ms);
  enqueue(1, 0);
  enqueue(2, 0);
  advance(5000ms - k_permit_lead);
  hang_up(2, 0);
  advance(k_permit_lead);
  EXPECT_FALSE(granted(2));
  EXPECT_EQ(journal_rows().size(), 2u) << "journaled before the hang-up: the row stays";
}

TEST_F(bucket_flow, different_buckets_grant_in_parallel) {
  start(configured(1000, 4), 5000ms);
  for (std::uint64_t shard = 0; shard < 4; ++shard) enqueue(shard + 1, shard);
  for (std::uint64_t id = 1; id <= 4; ++id) EXPECT_TRUE(granted(id)) << id;
  enqueue(5, 4);  // bucket 0 again
  EXPECT_FALSE(granted(5));
  advance(5000ms);
  EXPECT_TRUE(granted(5));
}

TEST_F(bucket_flow, waiters_are_granted_first_come_first_served) {
  start(configured(1000), 1000ms);
  for (std::uint64_t id = 1; id <= 5; ++id) enqueue(id, 0);
  advance_by_steps(10s, 1000ms);
  EXPECT_EQ(grant_order(), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
}

TEST_F(bucket_flow, request_without_shard_goes_to_bucket_zero) {
  start(configured(1000, 2), 5000ms);
  enqueue(1, 0);
  enqueue(2);  // no shard: bucket 0, behind waiter 1
  EXPECT_FALSE(granted(2));
  advance(5000ms);
  ASSERT_TRUE(granted(2));
  EXPECT_EQ(journal_rows().front().shard, std::nullopt);
}

TEST_F(bucket_flow, hung_up_waiter_costs_no_grant_and_no_interval) {
  start(configured(1000), 5000ms);
  enqueue(1, 0);
  enqueue(2, 0);
  enqueue(3, 0);
  hang_up(2, 0);
  EXPECT_EQ(verdict_of(2)->result.kind, verdict_kind::withdrawn);
  advance(5000ms);
  ASSERT_TRUE(granted(3)) << "the next waiter takes the slot on time";
  EXPECT_EQ(verdict_of(3)->at - verdict_of(1)->at, 5000ms);
  EXPECT_EQ(journal_rows().size(), 2u);
}

TEST_F(bucket_flow, hang_up_of_a_held_permit_withdraws_it_from_the_ledger) {
  start(configured(1), 1000ms);  // one grant per day: the second waiter is held
  enqueue(1, 0);
  enqueue(2, 0);
  advance(1000ms);
  EXPECT_FALSE(granted(2));
  EXPECT_EQ(ask<ledger_status>(ledger_, status_atom::value, k_bot).held, 1u);
  hang_up(2, 0);
  EXPECT_EQ(ask<ledger_status>(ledger_, status_atom::value, k_bot).held, 0u);
  enqueue(3, 0);
  advance(24h);
  EXPECT_TRUE(granted(3)) << "the withdrawn waiter did not use the refilled budget";
  EXPECT_FALSE(granted(2));
}

TEST_F(bucket_flow, exhausted_budget_holds_waiters_until_the_reset) {
  start(configured(2), 1000ms);
  for (std::uint64_t id = 1; id <= 3; ++id) enqueue(id, 0);
  advance(1000ms);
  EXPECT_TRUE(granted(2));
  advance(1h);
  EXPECT_FALSE(granted(3)) << "held, not refused";
  EXPECT_FALSE(verdict_of(3).has_value());
  advance(23h);
  EXPECT_TRUE(granted(3)) << "remaining refills at the reset";
  EXPECT_EQ(journal_rows().size(), 3u);
}

TEST_F(bucket_flow, exhausted_budget_rejects_under_reject_policy) {
  start(configured(2), 1000ms, /*reject=*/true);
  for (std::uint64_t id = 1; id <= 4; ++id) enqueue(id, 0);
  advance(1000ms);
  EXPECT_TRUE(granted(2));
  EXPECT_FALSE(verdict_of(3).has_value()) << "its turn has not come yet";
  advance(1000ms);
  for (std::uint64_t id : {3, 4}) {
    const auto refused = verdict_of(id);
    ASSERT_TRUE(refused.has_value()) << id;
    EXPECT_EQ(refused->result.kind, verdict_kind::exhausted);
    EXPECT_EQ(refused->result.at, k_wall_start + 24 * 3600 * 1000) << "retry at the reset";
  }
  enqueue(5, 0);
  ASSERT_TRUE(verdict_of(5).has_value());
  EXPECT_EQ(verdict_of(5)->result.kind, verdict_kind::exhausted) << "refused on arrival";
  EXPECT_EQ(journal_rows().size(), 2u);
}

TEST_F(bucket_flow, unknown_limits_hold_every_grant_until_they_arrive) {
  start(std::nullopt, 1000ms);
  enqueue(1, 0);
  advance(1h);
  EXPECT_FALSE(granted(1));
  session_limits limits{1000,
                        999,
                        anchor_.to_unix(now()) + 3600 * 1000,
                        1,
                        limits_source::discord,
                        anchor_.to_unix(now())};
  caf::anon_send(ledger_, limits_atom::value, k_bot, limits);
  sched_.run();
  EXPECT_TRUE(granted(1));
}

TEST_F(bucket_flow, shutdown_answers_every_waiter_without_granting) {
  start(configured(1000), 5000ms);
  enqueue(1, 0);
  enqueue(2, 0);
  enqueue(3, 1);
  caf::anon_send(gate_, shutdown_atom::value);
  sched_.run();
  EXPECT_EQ(verdict_of(2)->result.kind, verdict_kind::shutting_down);
  EXPECT_EQ(verdict_of(3)->result.kind, verdict_kind::shutting_down);
  enqueue(4, 0);
  EXPECT_EQ(verdict_of(4)->result.kind, verdict_kind::shutting_down);
  EXPECT_EQ(journal_rows().size(), 1u);
}

TEST_F(bucket_flow, restart_resumes_no_sooner_than_the_journaled_grant_allows) {
  const auto resume = k_wall_start + 3000;  // the previous process granted 2 s before start
  start(configured(1000), 5000ms, false, {resume});
  enqueue(1, 0);
  EXPECT_FALSE(granted(1));
  advance(2999ms);
  EXPECT_FALSE(granted(1));
  advance(1ms);
  EXPECT_TRUE(granted(1));
}

TEST_F(bucket_flow, status_reports_waiting_and_next_grant_per_bucket) {
  start(configured(1000, 2), 5000ms);
  enqueue(1, 0);
  enqueue(2, 0);
  enqueue(3, 0);
  const auto status = ask<queue_status>(gate_, status_atom::value);
  ASSERT_EQ(status.buckets.size(), 2u);
  EXPECT_EQ(status.buckets[0].waiting, 2u);
  EXPECT_EQ(status.buckets[0].next_grant_at, k_wall_start + 5000);
  EXPECT_EQ(status.buckets[1].waiting, 0u);
  EXPECT_EQ(status.ledger.grants_total, 1u);
  EXPECT_EQ(status.ledger.limits.remaining, 999u);
  EXPECT_EQ(status.max_concurrency, 2u);
}

}  // namespace
}  // namespace gq::testing
