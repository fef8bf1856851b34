// Re-bucketing when max_concurrency changes, on CAF's test coordinator.
#include "actors/gate.hpp"

#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

using gate_resize = actor_fixture;

TEST_F(gate_resize, raised_max_concurrency_rebuckets_waiters_in_order) {
  start(configured(1000, 1), 1000ms);
  for (std::uint64_t id = 1; id <= 5; ++id) enqueue(id, id);  // shards 1..5, all in bucket 0
  ASSERT_TRUE(granted(1));
  caf::anon_send(gate_, resize_atom::value, std::uint32_t{2});
  sched_.run();
  EXPECT_FALSE(granted(2)) << "no bucket grants sooner than the interval after the last grant";
  advance(1000ms);
  // Shards 2 and 4 -> bucket 0, 3 and 5 -> bucket 1: the head of each new bucket goes at once.
  EXPECT_TRUE(granted(2));
  EXPECT_TRUE(granted(3));
  EXPECT_FALSE(granted(4));
  advance(1000ms);
  EXPECT_TRUE(granted(4));
  EXPECT_TRUE(granted(5));
  EXPECT_EQ(ask<queue_status>(gate_, status_atom::value).buckets.size(), 2u);
}

TEST_F(gate_resize, lowered_max_concurrency_keeps_arrival_order) {
  start(configured(1000, 3), 1000ms);
  for (std::uint64_t id = 1; id <= 9; ++id) enqueue(id, id - 1);  // shards 0..8
  caf::anon_send(gate_, resize_atom::value, std::uint32_t{1});
  sched_.run();
  advance_by_steps(20s, 1000ms);
  const auto order = grant_order();
  ASSERT_EQ(order.size(), 9u);
  // 1, 2, 3 went before the change; the rest follow in arrival order in the single bucket.
  EXPECT_EQ(std::vector<std::uint64_t>(order.begin() + 3, order.end()),
            (std::vector<std::uint64_t>{4, 5, 6, 7, 8, 9}));
  const auto rows = journal_rows();
  ASSERT_EQ(rows.size(), 9u);
  for (std::size_t i = 0; i + 1 < rows.size(); ++i) {
    if (rows[i].max_concurrency == 1 && rows[i + 1].max_concurrency == 1) {
      EXPECT_GE(rows[i].released_at - rows[i + 1].released_at, 1000);
    }
  }
}

TEST_F(gate_resize, hang_up_during_rebucketing_is_not_lost) {
  start(configured(1000, 1), 1000ms);
  for (std::uint64_t id = 1; id <= 4; ++id) enqueue(id, id);
  caf::anon_send(gate_, resize_atom::value, std::uint32_t{2});
  caf::anon_send(gate_, cancel_atom::value, std::uint64_t{3}, shard_id{3});
  sched_.run();
  advance_by_steps(10s, 1000ms);
  EXPECT_FALSE(granted(3));
  EXPECT_TRUE(granted(2));
  EXPECT_TRUE(granted(4));
  EXPECT_EQ(journal_rows().size(), 3u);
}

}  // namespace
}  // namespace gq::testing
