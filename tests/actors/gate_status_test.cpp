// GET /status's estimates, on CAF's test coordinator: where a shard stands and when each bucket
// drains, compared with the grants the queue then makes on the fake clock.
#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

class gate_status : public actor_fixture {
 protected:
  queue_status status_of(std::uint64_t shard) {
    return ask<queue_status>(gate_, status_atom::value, shard_id{shard});
  }
};

TEST_F(gate_status, a_shard_learns_its_bucket_place_and_grant_time_and_the_queue_keeps_it) {
  start(configured(1000, 2), 1000ms);
  for (std::uint64_t shard = 0; shard < 8; ++shard) enqueue(shard + 1, shard);
  ASSERT_TRUE(granted(1));  // an idle bucket grants at once
  ASSERT_TRUE(granted(2));

  std::map<std::uint64_t, unix_ms> estimated;
  for (std::uint64_t shard = 2; shard < 8; ++shard) {
    const auto status = status_of(shard);
    EXPECT_EQ(status.shard, shard);
    EXPECT_EQ(status.shard_position, shard / 2) << "bucket " << shard % 2 << ", FIFO";
    ASSERT_TRUE(status.shard_eta.known) << status.shard_eta.reason;
    estimated[shard] = status.shard_eta.at;
    EXPECT_EQ(status.shard_eta.at, k_wall_start + static_cast<unix_ms>(shard / 2) * 1000);
  }
  const auto status = status_of(0);
  EXPECT_EQ(status.shard_position, 0u) << "shard 0 was granted: not waiting";
  EXPECT_FALSE(status.shard_eta.known);
  EXPECT_EQ(status.shard_eta.reason, "not waiting");
  ASSERT_EQ(status.buckets.size(), 2u);
  for (const auto& b : status.buckets) {
    EXPECT_EQ(b.waiting, 3u);
    EXPECT_TRUE(b.drain.known);
    EXPECT_EQ(b.drain.at, k_wall_start + 3000);
  }

  // 1 ms steps: each grant is written within a step of when it fell due.
  advance_by_steps(3500ms, 1ms);
  for (const auto& [shard, at] : estimated) {
    const auto v = verdict_of(shard + 1);
    ASSERT_TRUE(v && v->result.kind == verdict_kind::granted) << "shard " << shard;
    EXPECT_NEAR(static_cast<double>(anchor_.to_unix(v->at)), static_cast<double>(at), 1.0)
        << "shard " << shard;
  }
  const auto drained = status_of(7);
  EXPECT_EQ(drained.shard_position, 0u);
  for (const auto& b : drained.buckets) {
    EXPECT_FALSE(b.drain.known);
    EXPECT_EQ(b.drain.reason, "empty");
  }
}

TEST_F(gate_status, a_shard_beyond_the_daily_budget_is_estimated_at_the_reset) {
  start(configured(3, 2), 1000ms);
  enqueue(1, 0);
  enqueue(2, 2);
  enqueue(3, 4);
  advance(500ms);
  enqueue(4, 1);  // bucket 1, granted at once: the budget's last unit goes to shard 2 at +1000
  ASSERT_TRUE(granted(1));
  ASSERT_TRUE(granted(4));

  const auto before = status_of(4);
  ASSERT_TRUE(before.ledger.limits_known);
  EXPECT_EQ(before.shard_position, 2u);
  ASSERT_TRUE(before.shard_eta.known) << before.shard_eta.reason;
  const auto reset_at = before.ledger.limits.reset_at;
  EXPECT_EQ(before.shard_eta.at, reset_at) << "held by the budget until the reset";
  const auto second = status_of(2);
  EXPECT_EQ(second.shard_eta.at, k_wall_start + 1000);

  advance_by_steps(1000ms, 1ms);
  ASSERT_TRUE(granted(2));
  EXPECT_FALSE(granted(3));
  const auto held = status_of(4);
  EXPECT_EQ(held.shard_position, 1u) << "its permit is held by the ledger: still waiting, next";
  EXPECT_EQ(held.shard_eta.at, reset_at);

  const auto until_reset = anchor_.from_unix(reset_at) - now();
  advance(until_reset - 5ms);
  EXPECT_FALSE(granted(3));
  advance_by_steps(10ms, 1ms);
  const auto v = verdict_of(3);
  ASSERT_TRUE(v && v->result.kind == verdict_kind::granted);
  EXPECT_NEAR(static_cast<double>(anchor_.to_unix(v->at)), static_cast<double>(reset_at), 1.0);
}

TEST_F(gate_status, a_grant_on_its_way_to_the_client_takes_the_next_slot) {
  start(configured(1000, 1), 1000ms);
  enqueue(1, 0);
  enqueue(2, 1);
  enqueue(3, 2);
  ASSERT_TRUE(granted(1));
  // Within k_permit_lead of +1000 shard 1's grant is journaled and held by the edge until due:
  // it no longer waits, and shard 2 comes one interval after it.
  advance_by_steps(950ms, 1ms);
  ASSERT_FALSE(granted(2));
  const auto status = status_of(2);
  EXPECT_EQ(status.buckets[0].waiting, 1u);
  EXPECT_EQ(status.shard_position, 1u);
  ASSERT_TRUE(status.shard_eta.known);
  EXPECT_EQ(status.shard_eta.at, k_wall_start + 2000);
  EXPECT_EQ(status.buckets[0].drain.at, k_wall_start + 2000);
  advance_by_steps(1100ms, 1ms);
  const auto v = verdict_of(3);
  ASSERT_TRUE(v && v->result.kind == verdict_kind::granted);
  EXPECT_NEAR(static_cast<double>(anchor_.to_unix(v->at)), k_wall_start + 2000.0, 1.0);
}

TEST_F(gate_status, without_known_limits_a_waiting_shard_has_no_estimate_but_a_reason) {
  start(std::nullopt, 1000ms);
  enqueue(1, 5);
  const auto status = status_of(5);
  EXPECT_EQ(status.shard_position, 1u);
  EXPECT_FALSE(status.shard_eta.known);
  EXPECT_NE(status.shard_eta.reason.find("limits not known"), std::string::npos);
  EXPECT_FALSE(status.buckets[0].drain.known);
}

}  // namespace
}  // namespace gq::testing
