// What happens past the grant, through gate, buckets and ledger on CAF's test coordinator with a
// fake clock: the loop guard refuses a shard granted too often this hour, the reserve keeps the
// last session starts from boots without holding the reconnects behind them, and a shard's
// outcome report is journaled on its grant, an early Invalid Session widening its bucket.
#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

using past_the_gate = actor_fixture;

TEST_F(past_the_gate, loop_guard_refuses_a_shard_at_its_hourly_limit_and_costs_no_interval) {
  shard_hourly_limit_ = 2;
  start(configured(1000), 1000ms);
  enqueue(1, 5);
  advance(1000ms);
  enqueue(2, 5);
  ASSERT_TRUE(granted(1));
  ASSERT_TRUE(granted(2));
  advance(1000ms);
  enqueue(3, 5);
  enqueue(4, 6);
  const auto refused = verdict_of(3);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->result.kind, verdict_kind::looping);
  EXPECT_EQ(refused->result.at, verdict_of(1)->result.at + 60 * 60 * 1000)
      << "until the oldest grant of the hour is an hour old";
  ASSERT_TRUE(granted(4)) << "the refusal used no interval: the next waiter goes at its slot";
  EXPECT_EQ(verdict_of(4)->at - verdict_of(2)->at, 1000ms);
  EXPECT_EQ(journal_rows().size(), 3u) << "a refusal is no grant";
  const auto status = ask<queue_status>(gate_, status_atom::value);
  ASSERT_EQ(status.ledger.looping.size(), 1u);
  EXPECT_EQ(status.ledger.looping[0].shard, 5u);

  advance_by_steps(60min, 1min);
  enqueue(5, 5);
  EXPECT_TRUE(granted(5)) << "an hour after its first grant the shard may come back";
}

TEST_F(past_the_gate, loop_guard_counts_the_grants_journaled_before_a_restart) {
  shard_hourly_limit_ = 2;
  start(configured(1000), 1000ms);
  enqueue(1, 5);
  advance(1000ms);
  enqueue(2, 5);
  ASSERT_TRUE(granted(2));
  restart(configured(1000), 1000ms);
  advance(2000ms);
  enqueue(3, 5);
  ASSERT_TRUE(verdict_of(3).has_value());
  EXPECT_EQ(verdict_of(3)->result.kind, verdict_kind::looping);
}

TEST_F(past_the_gate, loop_guard_off_grants_a_shard_as_often_as_it_asks) {
  shard_hourly_limit_ = 0;
  start(configured(1000), 1000ms);
  for (std::uint64_t id = 1; id <= 20; ++id) {
    enqueue(id, 5);
    advance(1000ms);
    ASSERT_TRUE(granted(id)) << id;
  }
}

TEST_F(past_the_gate, requests_without_a_shard_are_not_guarded) {
  shard_hourly_limit_ = 1;
  start(configured(1000), 1000ms);
  enqueue(1);
  advance(1000ms);
  enqueue(2);
  EXPECT_TRUE(granted(2));
}

TEST_F(past_the_gate, a_grant_passed_on_after_a_hang_up_counts_for_the_shard_that_got_it) {
  shard_hourly_limit_ = 1;
  start(configured(1000), 1000ms);
  enqueue(1, 9);
  enqueue(2, 5);
  enqueue(3, 7);
  advance(1000ms - k_permit_lead);  // shard 5's grant is journaled ahead of its due instant
  hang_up(2, 5);
  advance(k_permit_lead);
  ASSERT_TRUE(granted(3)) << "shard 7 took the journaled grant";
  advance(1000ms);
  enqueue(4, 7);
  enqueue(5, 5);
  ASSERT_TRUE(verdict_of(4).has_value());
  EXPECT_EQ(verdict_of(4)->result.kind, verdict_kind::looping) << "shard 7 has its grant";
  EXPECT_TRUE(granted(5)) << "shard 5 never got the grant it was journaled with";
}

TEST_F(past_the_gate, boots_are_not_granted_from_the_reserve_and_reconnects_pass_them) {
  reserve_ = 2;
  start(configured(4), 1000ms);
  enqueue(1, 0, true);
  advance(1000ms);
  enqueue(2, 1, true);
  ASSERT_TRUE(granted(1));
  ASSERT_TRUE(granted(2));
  advance(1000ms);
  enqueue(3, 2, true);  // 2 left, both kept for reconnects: this boot waits
  enqueue(4, 3);        // a reconnect behind it in the same bucket
  advance(1000ms);
  EXPECT_FALSE(verdict_of(3).has_value()) << "held, not refused, under hold";
  ASSERT_TRUE(granted(4)) << "the held boot does not hold the reconnect behind it";
  const auto status = ask<queue_status>(gate_, status_atom::value);
  EXPECT_EQ(status.ledger.reserve, 2u);
  EXPECT_EQ(status.buckets[0].waiting, 1u) << "the boot still waits";

  advance_by_steps(std::chrono::milliseconds{daily_budget::k_day_ms}, 1h);
  ASSERT_TRUE(granted(3)) << "the reset refills the budget and the boot goes";
}

TEST_F(past_the_gate, a_boot_kept_by_the_reserve_gets_429_under_reject) {
  reserve_ = 1;
  start(configured(2), 1000ms, true);
  enqueue(1, 0, true);
  advance(1000ms);
  enqueue(2, 1, true);
  enqueue(3, 2);
  advance(1000ms);
  ASSERT_TRUE(verdict_of(2).has_value());
  EXPECT_EQ(verdict_of(2)->result.kind, verdict_kind::reserved);
  EXPECT_TRUE(granted(3)) << "a reconnect spends the reserve";
}

TEST_F(past_the_gate, a_boot_that_hangs_up_while_set_aside_is_dropped) {
  reserve_ = 5;
  start(configured(5), 1000ms);
  enqueue(1, 0, true);
  hang_up(1, 0);
  advance_by_steps(std::chrono::milliseconds{daily_budget::k_day_ms}, 1h);
  EXPECT_FALSE(granted(1));
  EXPECT_TRUE(journal_rows().empty());
}

TEST_F(past_the_gate, outcome_is_journaled_on_the_shards_newest_grant) {
  start(configured(1000), 1000ms);
  enqueue(1, 5);
  advance(1000ms);
  enqueue(2, 5);
  advance(300ms);
  const auto receipt = report(5, outcome_result::closed, 4004);
  EXPECT_EQ(receipt.answer, outcome_answer::journaled);
  EXPECT_EQ(receipt.row.released_at, verdict_of(2)->result.at);
  const auto rows = journal_rows();
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_TRUE(rows[0].outcome.has_value());
  EXPECT_EQ(rows[0].outcome->result, outcome_result::closed);
  EXPECT_EQ(rows[0].outcome->code, 4004u);
  EXPECT_EQ(rows[0].outcome->reported_at - rows[0].released_at, 300);
  EXPECT_FALSE(rows[1].outcome.has_value());
}

TEST_F(past_the_gate, outcome_without_a_grant_in_ten_minutes_is_refused) {
  start(configured(1000), 1000ms);
  EXPECT_EQ(report(5, outcome_result::ready).answer, outcome_answer::no_grant);
  enqueue(1, 5);
  advance_by_steps(10min + 1s, 1min);
  EXPECT_EQ(report(5, outcome_result::ready).answer, outcome_answer::no_grant);
  EXPECT_FALSE(journal_rows()[0].outcome.has_value());
}

TEST_F(past_the_gate, early_invalid_session_widens_its_bucket_and_an_hour_narrows_it) {
  widening_ = {500ms, 1000ms};
  start(configured(1000, 2), 1000ms);
  enqueue(1, 0);
  enqueue(2, 2);
  enqueue(3, 4);
  enqueue(4, 6);
  advance(200ms);
  report(0, outcome_result::invalid_session);
  advance(800ms);
  ASSERT_TRUE(granted(1));
  EXPECT_FALSE(granted(2)) << "widened by a step: 1.5 s after the grant";
  advance(500ms);
  ASSERT_TRUE(granted(2));
  report(2, outcome_result::invalid_session);
  report(2, outcome_result::invalid_session);  // a second report of one grant: once more only
  advance(2000ms - 1ms);
  EXPECT_FALSE(granted(3)) << "at most the maximum above the interval";
  advance(1ms);
  ASSERT_TRUE(granted(3));
  auto status = ask<queue_status>(gate_, status_atom::value);
  EXPECT_EQ(status.buckets[0].interval_ms, 2000);
  EXPECT_EQ(status.buckets[0].invalid_sessions, 3u);
  EXPECT_EQ(status.buckets[1].interval_ms, 1000) << "other buckets are not widened";
  advance_by_steps(60min, 1min);
  status = ask<queue_status>(gate_, status_atom::value);
  EXPECT_EQ(status.buckets[0].interval_ms, 1500) << "an hour without one narrows by a step";
}

TEST_F(past_the_gate, late_invalid_session_or_ready_does_not_widen) {
  widening_ = {500ms, 1000ms};
  start(configured(1000), 1000ms);
  enqueue(1, 0);
  report(0, outcome_result::ready);
  advance_by_steps(31s, 1s);
  report(0, outcome_result::invalid_session);
  const auto status = ask<queue_status>(gate_, status_atom::value);
  EXPECT_EQ(status.buckets[0].interval_ms, 1000);
  ASSERT_EQ(status.buckets[0].last_outcomes.size(), 2u);
  EXPECT_EQ(status.buckets[0].last_outcomes[0].outcome.result, outcome_result::invalid_session);
}

TEST_F(past_the_gate, widening_off_never_widens) {
  widening_ = {500ms, 0ms};
  start(configured(1000), 1000ms);
  enqueue(1, 0);
  report(0, outcome_result::invalid_session);
  EXPECT_EQ(ask<queue_status>(gate_, status_atom::value).buckets[0].interval_ms, 1000);
}

TEST_F(past_the_gate, a_bucket_widened_before_a_restart_starts_widened) {
  widening_ = {500ms, 1000ms};
  bucket_widening widened(widening_);
  widened.on_invalid_session(k_wall_start - 2000, k_wall_start - 1500);
  widened_ = {widened};
  start(configured(1000), 1000ms, false, {k_wall_start + 100});
  enqueue(1, 0);
  advance(599ms);
  EXPECT_FALSE(granted(1)) << "the resume time plus the extra spacing";
  advance(1ms);
  EXPECT_TRUE(granted(1));
  EXPECT_EQ(ask<queue_status>(gate_, status_atom::value).buckets[0].interval_ms, 1500);
}

}  // namespace
}  // namespace gq::testing
