#include "src/pacing/grant_dispatcher.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gq {
namespace {

using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;

// A fake clock: tests move time by hand, nothing sleeps.
const time_point t0 = time_point{} + 1000h;

struct test_grant {
  std::uint64_t waiter_id = 0;
  time_point due;
  std::string bucket;
};

using dispatcher = grant_dispatcher<test_grant>;

std::vector<std::uint64_t> ids(const std::vector<test_grant>& grants) {
  std::vector<std::uint64_t> out;
  for (const auto& g : grants) out.push_back(g.waiter_id);
  return out;
}

TEST(grant_dispatcher, holds_a_grant_until_its_due_instant_never_before) {
  dispatcher d;
  ASSERT_TRUE(d.hold({1, t0 + 100ms, "b0"}));
  EXPECT_EQ(d.next_due(), t0 + 100ms);
  EXPECT_TRUE(d.take_due(t0).empty());
  EXPECT_TRUE(d.take_due(t0 + 100ms - 1ns).empty()) << "one nanosecond early is early";
  EXPECT_EQ(ids(d.take_due(t0 + 100ms)), (std::vector<std::uint64_t>{1}));
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.next_due(), std::nullopt);
}

TEST(grant_dispatcher, a_late_pass_takes_every_grant_due_by_then_earliest_first) {
  dispatcher d;
  d.hold({3, t0 + 30ms, "b2"});
  d.hold({1, t0 + 10ms, "b0"});
  d.hold({2, t0 + 20ms, "b1"});
  d.hold({4, t0 + 40ms, "b3"});
  EXPECT_EQ(ids(d.take_due(t0 + 35ms)), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(d.next_due(), t0 + 40ms);
  EXPECT_EQ(d.size(), 1u);
}

TEST(grant_dispatcher, grants_due_together_leave_in_the_order_they_were_held) {
  dispatcher d;
  for (std::uint64_t id = 1; id <= 5; ++id) d.hold({id, t0, "b" + std::to_string(id)});
  EXPECT_EQ(ids(d.take_due(t0)), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
}

TEST(grant_dispatcher, a_waiter_holds_at_most_one_grant) {
  dispatcher d;
  EXPECT_TRUE(d.hold({1, t0 + 10ms, "b0"}));
  EXPECT_FALSE(d.hold({1, t0 + 5ms, "b0"}));
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.next_due(), t0 + 10ms) << "the refused one changed nothing";
}

TEST(grant_dispatcher, a_hang_up_withdraws_a_held_grant_for_its_bucket) {
  dispatcher d;
  d.hold({1, t0 + 10ms, "b0"});
  d.hold({2, t0 + 20ms, "b1"});
  auto left = d.withdraw(1);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->bucket, "b0") << "the caller gives it back to the bucket that granted it";
  EXPECT_EQ(left->due, t0 + 10ms) << "with its due instant, for the next waiter";
  EXPECT_FALSE(d.holds(1));
  EXPECT_EQ(d.next_due(), t0 + 20ms);
  EXPECT_EQ(ids(d.take_due(t0 + 20ms)), (std::vector<std::uint64_t>{2}));
}

TEST(grant_dispatcher, a_grant_taken_for_writing_cannot_be_withdrawn) {
  dispatcher d;
  d.hold({1, t0, "b0"});
  ASSERT_EQ(d.take_due(t0).size(), 1u);
  EXPECT_EQ(d.withdraw(1), std::nullopt) << "it is being written: it counts as sent";
  EXPECT_EQ(d.withdraw(99), std::nullopt);
}

TEST(grant_dispatcher, the_same_waiter_may_be_held_again_after_its_grant_left) {
  dispatcher d;
  d.hold({1, t0, "b0"});
  d.take_due(t0);
  EXPECT_TRUE(d.hold({1, t0 + 5s, "b0"}));
}

TEST(grant_dispatcher, report_names_bucket_waiter_and_the_real_send_time) {
  const test_grant g{7, t0 + 10ms, "b3"};
  const auto report = dispatcher::written(g, t0 + 10ms + 250us);
  EXPECT_EQ(report.bucket, "b3");
  EXPECT_EQ(report.waiter_id, 7u);
  EXPECT_EQ(report.sent_at, t0 + 10ms + 250us) << "the interval runs from the real send";
}

TEST(grant_dispatcher, take_all_empties_it_for_shutdown) {
  dispatcher d;
  d.hold({1, t0 + 1s, "b0"});
  d.hold({2, t0 + 2s, "b1"});
  EXPECT_EQ(ids(d.take_all()), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(d.empty());
  EXPECT_FALSE(d.holds(1));
  EXPECT_TRUE(d.hold({1, t0, "b0"}));
}

#ifndef NDEBUG
TEST(grant_dispatcher_death, a_report_before_the_due_instant_is_a_bug) {
  const test_grant g{1, t0 + 10ms, "b0"};
  EXPECT_DEATH(dispatcher::written(g, t0 + 9ms), "");
}
#endif

}  // namespace
}  // namespace gq
