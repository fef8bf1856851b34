// A bucket is an actor only while it has work: an idle one rests in the gate as a rest record and
// is spawned again from it, on CAF's test coordinator with a fake clock. Resting must never cost a
// waiter its place, a grant its spacing, nor a bucket its widening.
#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

class resting_buckets : public actor_fixture {
 protected:
  // Ledger, gate and the fake edge run for the whole test; every other actor is a bucket.
  std::size_t live_buckets() {
    sched_.run();
    return system_.registry().running() - 3;
  }

  // The shard reports, now, that its newest grant became an Invalid Session.
  void report_invalid_session(std::uint64_t shard) {
    ASSERT_EQ(report(shard, outcome_result::invalid_session).answer, outcome_answer::journaled);
  }
};

TEST_F(resting_buckets, nothing_is_spawned_at_start_and_an_idle_bucket_rests_after_its_interval) {
  start(configured(1000, 16), 5000ms);
  EXPECT_EQ(live_buckets(), 0u) << "16 buckets, none with work";
  enqueue(1, 3);
  ASSERT_TRUE(granted(1));
  EXPECT_EQ(live_buckets(), 1u);
  advance(4999ms);
  EXPECT_EQ(live_buckets(), 1u) << "its next grant is not allowed yet: it stays";
  advance(1ms);
  EXPECT_EQ(live_buckets(), 0u) << "idle, its next grant allowed now: it rests";
  enqueue(2, 3);
  ASSERT_TRUE(granted(2)) << "woken from rest, it grants at once";
  EXPECT_EQ(verdict_of(2)->at - verdict_of(1)->at, 5000ms);
}

TEST_F(resting_buckets, a_waiter_before_the_interval_is_granted_exactly_one_interval_after) {
  start(configured(1000), 5000ms);
  enqueue(1, 0);
  advance(5000ms);  // rests
  ASSERT_EQ(live_buckets(), 0u);
  enqueue(2, 0);
  ASSERT_TRUE(granted(2));
  advance(2000ms);
  enqueue(3, 0);
  advance(2999ms);
  EXPECT_FALSE(granted(3)) << "never less than the interval after the grant of a woken bucket";
  advance(1ms);
  ASSERT_TRUE(granted(3));
  EXPECT_EQ(verdict_of(3)->at - verdict_of(2)->at, 5000ms);
  advance(5000ms);
  EXPECT_EQ(live_buckets(), 0u);
}

// The race the count settles: the gate hands a waiter to the bucket just as the bucket, idle,
// asks to rest. The gate has sent one more enqueue than the bucket had received: it must keep it.
TEST_F(resting_buckets, an_enqueue_racing_the_request_to_rest_is_not_lost) {
  start(configured(1000), 5000ms);
  enqueue(1, 0);
  advance(4999ms);
  ASSERT_EQ(live_buckets(), 1u);
  // The edge hands waiter 2 to the gate, which has not read it yet ...
  caf::anon_send(edge_, enqueue_atom::value,
                 waiter_ticket{2, shard_id{0}, anchor_.to_unix(now()), connection_of(2), false});
  sched_.run_once();  // the edge: the enqueue is in the gate's mailbox
  // ... when the bucket's tick comes: idle, it asks to rest, behind that enqueue.
  ASSERT_EQ(sched_.advance_time(1ms), 1u);
  sched_.run_once_lifo();  // the bucket
  sched_.run();
  ASSERT_TRUE(granted(2)) << "the waiter handed to the bucket reached it and was granted";
  EXPECT_EQ(verdict_of(2)->at - verdict_of(1)->at, 5000ms);
  EXPECT_EQ(journal_rows().size(), 2u);
  advance(5000ms);
  EXPECT_EQ(live_buckets(), 0u) << "idle again: it rests this time";
}

// The same race for an outcome: the gate tells the bucket of an Invalid Session just as the
// bucket, idle, asks to rest with a record that does not have it yet.
TEST_F(resting_buckets, an_outcome_racing_the_request_to_rest_is_not_lost) {
  widening_ = {500ms, 1000ms};
  start(configured(1000), 1000ms);
  enqueue(1, 0);
  advance(999ms);
  ASSERT_EQ(live_buckets(), 1u);
  ASSERT_EQ(sched_.advance_time(1ms), 1u);  // the bucket's tick, not read yet
  const auto* bucket = sched_.jobs.front();
  // The report goes through the gate and the ledger, and the gate tells the bucket, all before
  // the bucket reads its tick and asks to rest.
  auto receipt = std::make_shared<std::optional<outcome_receipt>>();
  const outcome_report r{0,
                         {outcome_result::invalid_session, std::nullopt, anchor_.to_unix(now())}};
  auto gate_handle = gate_;
  system_.spawn([=](caf::event_based_actor* self) {
    self->request(gate_handle, caf::infinite, outcome_atom::value, r).then([=](outcome_receipt x) {
      *receipt = x;
    });
  });
  sched_.run_jobs_filtered([&](caf::resumable* job) { return job != bucket; });
  ASSERT_TRUE(receipt->has_value());
  ASSERT_EQ((*receipt)->answer, outcome_answer::journaled);
  sched_.run();
  enqueue(2, 0);
  advance(499ms);
  EXPECT_FALSE(granted(2)) << "the widening reached the bucket: 1.5 s after the grant";
  advance(1ms);
  ASSERT_TRUE(granted(2));
  EXPECT_EQ(verdict_of(2)->at - verdict_of(1)->at, 1500ms);
}

TEST_F(resting_buckets, a_resting_bucket_answers_status_from_its_rest_record) {
  widening_ = {500ms, 1000ms};
  start(configured(1000, 2), 1000ms);
  enqueue(1, 0);
  advance(200ms);
  report_invalid_session(0);
  report(0, outcome_result::ready);
  advance(1300ms);  // widened to 1.5 s: rests at +1500
  ASSERT_EQ(live_buckets(), 0u);
  advance(500ms);
  const auto status = ask<queue_status>(gate_, status_atom::value, shard_id{2});
  ASSERT_EQ(status.buckets.size(), 2u);
  const auto& b = status.buckets[0];
  EXPECT_EQ(b.bucket, 0u);
  EXPECT_EQ(b.waiting, 0u);
  EXPECT_EQ(b.next_grant_at, k_wall_start + 2000) << "its next grant: now";
  EXPECT_EQ(b.head_at, k_wall_start + 2000);
  EXPECT_EQ(b.interval_ms, 1500) << "still widened";
  EXPECT_EQ(b.invalid_sessions, 1u);
  ASSERT_EQ(b.last_outcomes.size(), 2u);
  EXPECT_EQ(b.last_outcomes[0].outcome.result, outcome_result::ready);
  EXPECT_EQ(b.last_outcomes[1].outcome.result, outcome_result::invalid_session);
  EXPECT_EQ(b.last_outcomes[1].after_ms, 200);
  EXPECT_EQ(status.buckets[1].bucket, 1u);
  EXPECT_EQ(status.buckets[1].interval_ms, 1000);
  EXPECT_EQ(status.shard_position, 0u);
  EXPECT_FALSE(status.shard_eta.known);
  EXPECT_EQ(status.shard_eta.reason, "not waiting");
  EXPECT_FALSE(b.drain.known);
}

TEST_F(resting_buckets, a_widening_survives_the_rest) {
  widening_ = {500ms, 1000ms};
  start(configured(1000), 1000ms);
  enqueue(1, 0);
  advance(200ms);
  report_invalid_session(0);
  advance(1300ms);
  ASSERT_EQ(live_buckets(), 0u);
  enqueue(2, 0);
  ASSERT_TRUE(granted(2));
  enqueue(3, 0);
  advance(1499ms);
  EXPECT_FALSE(granted(3)) << "woken, the bucket is still spaced 1.5 s";
  advance(1ms);
  ASSERT_TRUE(granted(3));
  EXPECT_EQ(verdict_of(3)->at - verdict_of(2)->at, 1500ms);
}

// An Invalid Session reported after its bucket went to rest widens the spacing from that grant,
// as it would have for the bucket awake.
TEST_F(resting_buckets, an_outcome_for_a_resting_bucket_widens_it_from_its_last_grant) {
  widening_ = {500ms, 1000ms};
  start(configured(1000), 1000ms);
  enqueue(1, 0);
  advance(1200ms);
  ASSERT_EQ(live_buckets(), 0u);
  report_invalid_session(0);
  enqueue(2, 0);
  advance(299ms);
  EXPECT_FALSE(granted(2)) << "1.5 s after the grant the report was about";
  advance(1ms);
  ASSERT_TRUE(granted(2));
  EXPECT_EQ(verdict_of(2)->at - verdict_of(1)->at, 1500ms);
  const auto status = ask<queue_status>(gate_, status_atom::value);
  EXPECT_EQ(status.buckets[0].invalid_sessions, 1u);
  EXPECT_EQ(status.buckets[0].interval_ms, 1500);
}

TEST_F(resting_buckets, rebucketing_drains_the_live_buckets_and_counts_the_resting_ones) {
  start(configured(1000, 2), 1000ms);
  enqueue(1, 0);
  advance(2000ms);  // bucket 0 rests
  enqueue(2, 1);
  enqueue(3, 3);  // bucket 1, behind 2
  enqueue(4, 5);
  ASSERT_TRUE(granted(2));
  ASSERT_EQ(live_buckets(), 1u);
  caf::anon_send(gate_, resize_atom::value, std::uint32_t{3});
  sched_.run();
  // Shard 3 -> bucket 0, shard 5 -> bucket 2: released one interval after bucket 1's grant.
  advance(999ms);
  EXPECT_FALSE(granted(3));
  EXPECT_FALSE(granted(4));
  advance(1ms);
  ASSERT_TRUE(granted(3));
  ASSERT_TRUE(granted(4));
  EXPECT_EQ(verdict_of(3)->at - verdict_of(2)->at, 1000ms);
  EXPECT_EQ(verdict_of(4)->at - verdict_of(2)->at, 1000ms);
  EXPECT_EQ(live_buckets(), 2u) << "bucket 1 of the new three never had work";
  advance(1000ms);
  EXPECT_EQ(live_buckets(), 0u);
  const auto status = ask<queue_status>(gate_, status_atom::value);
  EXPECT_EQ(status.max_concurrency, 3u);
  ASSERT_EQ(status.buckets.size(), 3u);
}

// An old bucket that asked to rest just as re-bucketing replaced it is not the bucket of its index
// any more, even when the new one of that index has received as many enqueues: it drains.
TEST_F(resting_buckets, a_bucket_replaced_by_rebucketing_does_not_rest_in_place_of_the_new_one) {
  start(configured(1000, 1), 1000ms);
  enqueue(1, 0);
  advance(999ms);
  ASSERT_EQ(live_buckets(), 1u);
  // In the gate's mailbox: the resize, a waiter for (new) bucket 0, then the old bucket's request
  // to rest, having received one enqueue as the new bucket will have.
  caf::anon_send(gate_, resize_atom::value, std::uint32_t{2});
  caf::anon_send(edge_, enqueue_atom::value,
                 waiter_ticket{2, shard_id{0}, anchor_.to_unix(now()), connection_of(2), false});
  ASSERT_TRUE(sched_.prioritize(edge_));
  sched_.run_once();
  ASSERT_EQ(sched_.advance_time(1ms), 1u);
  sched_.run_once_lifo();  // the old bucket's tick
  sched_.run();
  ASSERT_TRUE(granted(2)) << "released one interval after the old bucket's grant";
  EXPECT_EQ(verdict_of(2)->at - verdict_of(1)->at, 1000ms);
  advance(1000ms);
  EXPECT_EQ(live_buckets(), 0u);
}

TEST_F(resting_buckets, rebucketing_resting_buckets_keeps_their_resume_time) {
  // A restart read a grant back for bucket 1: nothing may go before +3000, whatever the buckets.
  start(configured(1000, 2), 1000ms, false, {0, k_wall_start + 3000});
  caf::anon_send(gate_, resize_atom::value, std::uint32_t{1});
  sched_.run();
  EXPECT_EQ(live_buckets(), 0u) << "nothing to drain, nothing spawned";
  enqueue(1, 0);
  advance(2999ms);
  EXPECT_FALSE(granted(1));
  advance(1ms);
  EXPECT_TRUE(granted(1));
}

}  // namespace
}  // namespace gq::testing
