// A hang-up never costs a slot: a journaled grant whose waiter left goes to the next waiter of
// its bucket at the same due instant, and its journal row names the waiter that got it.
#include <algorithm>

#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

using hang_ups = actor_fixture;

// One bucket (max_concurrency 1), shards 10, 11, 12, ... so rows tell the waiters apart.
TEST_F(hang_ups, held_grant_goes_to_the_next_waiter_at_the_same_due_instant) {
  start(configured(1000), 5000ms);
  enqueue(1, 10);
  enqueue(2, 11);
  enqueue(3, 12);
  advance(5000ms - k_permit_lead);
  ASSERT_EQ(journal_rows().size(), 2u) << "waiter 2's grant is journaled and held";
  hang_up(2, 11);
  EXPECT_FALSE(granted(3)) << "not before the due instant";
  advance(k_permit_lead - 1ms);
  EXPECT_FALSE(granted(3)) << "not before the due instant";
  advance(1ms);
  ASSERT_TRUE(granted(3)) << "the hang-up did not cost the slot";
  EXPECT_EQ(verdict_of(3)->at - verdict_of(1)->at, 5000ms) << "at the original due instant";
  EXPECT_FALSE(granted(2));
  const auto rows = journal_rows();
  ASSERT_EQ(rows.size(), 2u) << "one row per grant: the row was re-attributed, not added";
  const auto row = std::find_if(rows.begin(), rows.end(),
                                [](const release_record& r) { return r.shard != 10u; });
  ASSERT_NE(row, rows.end());
  EXPECT_EQ(row->shard, 12u) << "the row names the shard that got the 200";
  EXPECT_EQ(row->released_at, verdict_of(3)->result.at);
  EXPECT_EQ(row->waited_ms, 5000) << "waiter 3's wait (it arrived with the others)";
  EXPECT_EQ(ask<ledger_status>(ledger_, status_atom::value, k_bot).limits.remaining, 998u)
      << "one unit of the daily budget per row";
}

// The edge takes grants from the hand-off while requests flood in (its mailbox waits behind
// them): every journaled grant must be there, the passed-on one included, naming the waiter and
// its connection, with the verdict's due instant.
TEST_F(hang_ups, every_journaled_grant_is_handed_off_to_the_edge_the_passed_on_one_too) {
  start(configured(1000), 5000ms);
  enqueue(1, 10);
  enqueue(2, 11);
  enqueue(3, 12);
  advance(5000ms - k_permit_lead);
  hang_up(2, 11);
  advance(k_permit_lead);
  ASSERT_TRUE(granted(1));
  ASSERT_TRUE(granted(3));
  const auto handed = handoff_->take();
  ASSERT_EQ(handed.size(), 3u) << "waiter 1's grant, waiter 2's, and the same grant for waiter 3";
  EXPECT_EQ(handed[0].waiter_id, 1u);
  EXPECT_EQ(handed[1].waiter_id, 2u);
  EXPECT_EQ(handed[2].waiter_id, 3u);
  for (const auto& h : handed) {
    EXPECT_EQ(h.connection, connection_of(h.waiter_id));
    EXPECT_EQ(h.grant.kind, verdict_kind::granted);
  }
  EXPECT_EQ(handed[2].grant.due, verdict_of(3)->result.due) << "the verdict's due instant";
  EXPECT_EQ(handed[2].grant.at, handed[1].grant.at) << "passed on: the same grant";
  EXPECT_TRUE(handoff_->take().empty()) << "taken once";
}

TEST_F(hang_ups, three_hang_ups_in_the_held_window_cost_the_live_waiter_nothing) {
  start(configured(1000), 5000ms);
  for (std::uint64_t id = 1; id <= 5; ++id) enqueue(id, 9 + id);
  advance(5000ms - k_permit_lead);
  hang_up(2, 11);
  advance(10ms);
  hang_up(3, 12);
  advance(10ms);
  hang_up(4, 13);
  advance(k_permit_lead - 20ms);
  ASSERT_TRUE(granted(5));
  EXPECT_EQ(verdict_of(5)->at - verdict_of(1)->at, 5000ms);
  const auto rows = journal_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(std::any_of(rows.begin(), rows.end(),
                          [](const release_record& r) { return r.shard == 14u; }));
  EXPECT_EQ(ask<ledger_status>(ledger_, status_atom::value, k_bot).grants_total, 2u);
}

TEST_F(hang_ups, the_passed_on_grant_paces_the_next_one_from_its_real_send) {
  start(configured(1000), 5000ms);
  enqueue(1, 10);
  enqueue(2, 11);
  enqueue(3, 12);
  enqueue(4, 13);
  advance(5000ms - k_permit_lead);
  hang_up(2, 11);
  advance(k_permit_lead);
  ASSERT_TRUE(granted(3));
  advance(5000ms - 1ms);
  EXPECT_FALSE(granted(4)) << "never less than the interval after the passed-on grant";
  advance(1ms);
  ASSERT_TRUE(granted(4));
  EXPECT_EQ(verdict_of(4)->at - verdict_of(3)->at, 5000ms);
  EXPECT_EQ(journal_rows().size(), 3u);
}

TEST_F(hang_ups, with_nobody_behind_the_grant_counts_as_sent_at_its_due_instant) {
  start(configured(1000), 5000ms);
  enqueue(1, 10);
  enqueue(2, 11);
  advance(5000ms - k_permit_lead);
  hang_up(2, 11);
  advance(k_permit_lead);
  enqueue(3, 12);
  EXPECT_FALSE(granted(3)) << "the journaled grant used the slot";
  advance(5000ms - 1ms);
  EXPECT_FALSE(granted(3));
  advance(1ms);
  ASSERT_TRUE(granted(3));
  EXPECT_EQ(verdict_of(3)->at - verdict_of(1)->at, 10000ms);
  EXPECT_EQ(journal_rows().size(), 3u);
}

}  // namespace
}  // namespace gq::testing
