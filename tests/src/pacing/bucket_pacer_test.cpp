#include "src/pacing/bucket_pacer.hpp"

#include <gtest/gtest.h>

#include "support/contract_death.hpp"

namespace gq {
namespace {

using namespace std::chrono_literals;
using time_point = bucket_pacer::time_point;

// A fake clock: tests move time by hand, nothing sleeps.
const time_point t0 = time_point{} + 1000h;

// The bucket asks for a permit this long before a grant is due (k_permit_lead in production);
// with no lead, may_prepare says whether the grant is due now.
constexpr bucket_pacer::duration k_lead = 50ms;
constexpr bucket_pacer::duration k_no_lead{0};

TEST(bucket_pacer, idle_bucket_grants_at_once) {
  bucket_pacer pacer{5s};
  EXPECT_TRUE(pacer.may_prepare(t0, k_no_lead));
}

TEST(bucket_pacer, same_bucket_is_serial_at_the_interval) {
  bucket_pacer pacer{5s};
  pacer.begin_grant();
  EXPECT_FALSE(pacer.may_prepare(t0, k_lead)) << "one grant in flight at a time";
  pacer.grant_sent(t0);
  EXPECT_FALSE(pacer.may_prepare(t0 + 4999ms, k_no_lead));
  EXPECT_TRUE(pacer.may_prepare(t0 + 5000ms, k_no_lead));
  EXPECT_EQ(pacer.next_grant_at(), t0 + 5s);
}

TEST(bucket_pacer, permit_is_asked_for_exactly_the_lead_ahead_of_the_due_instant) {
  bucket_pacer pacer{5s};
  pacer.begin_grant();
  pacer.grant_sent(t0);
  EXPECT_FALSE(pacer.may_prepare(t0 + 5s - k_lead - 1ns, k_lead));
  EXPECT_TRUE(pacer.may_prepare(t0 + 5s - k_lead, k_lead));
  EXPECT_EQ(pacer.next_grant_at(), t0 + 5s) << "asking early does not move the due instant";
}

TEST(bucket_pacer, interval_runs_from_the_send_not_the_decision) {
  bucket_pacer pacer{400ms};
  pacer.begin_grant();         // decided at t0 ...
  pacer.grant_sent(t0 + 3ms);  // ... reached the socket 3 ms later
  EXPECT_FALSE(pacer.may_prepare(t0 + 401ms, k_no_lead));
  EXPECT_TRUE(pacer.may_prepare(t0 + 403ms, k_no_lead));
}

TEST(bucket_pacer, abandoned_grant_uses_no_interval) {
  bucket_pacer pacer{5s};
  pacer.begin_grant();
  pacer.grant_sent(t0);
  pacer.begin_grant();
  pacer.grant_abandoned();
  EXPECT_TRUE(pacer.may_prepare(t0 + 5s, k_no_lead));
  EXPECT_EQ(pacer.next_grant_at(), t0 + 5s);
}

TEST(bucket_pacer, not_before_only_moves_later) {
  bucket_pacer pacer{5s};
  pacer.not_before(t0 + 2s);
  pacer.not_before(t0 + 1s);
  EXPECT_EQ(pacer.next_grant_at(), t0 + 2s);
  EXPECT_FALSE(pacer.may_prepare(t0 + 1999ms, k_no_lead));
  EXPECT_TRUE(pacer.may_prepare(t0 + 2s, k_no_lead));
}

TEST(bucket_pacer, a_resumed_pacer_widens_from_the_last_grant_sent_before_its_rest) {
  bucket_pacer before{5s};
  before.begin_grant();
  before.grant_sent(t0);
  bucket_pacer resumed{5s};
  resumed.resume(before.last_sent(), before.next_grant_at());
  EXPECT_EQ(resumed.next_grant_at(), t0 + 5s);
  EXPECT_EQ(resumed.last_sent(), t0);
  resumed.set_interval(6s);
  EXPECT_EQ(resumed.next_grant_at(), t0 + 6s) << "a widening applies from the last grant sent";
  bucket_pacer fresh{5s};
  fresh.resume(std::nullopt, t0);
  EXPECT_FALSE(fresh.last_sent().has_value());
  fresh.set_interval(6s);
  EXPECT_EQ(fresh.next_grant_at(), t0) << "no grant sent: nothing to widen from";
}

TEST(bucket_pacer, buckets_are_independent) {
  bucket_pacer first{5s};
  bucket_pacer second{5s};
  first.begin_grant();
  first.grant_sent(t0);
  EXPECT_FALSE(first.may_prepare(t0 + 1ms, k_no_lead));
  EXPECT_TRUE(second.may_prepare(t0 + 1ms, k_no_lead));
}

TEST(bucket_pacer_contract, a_second_grant_in_flight_is_refused) {
  bucket_pacer pacer{5s};
  pacer.begin_grant();
  GQ_EXPECT_CONTRACT_VIOLATION(pacer.begin_grant(), "two grants in flight");
}

TEST(bucket_pacer_contract, a_send_or_abandon_without_a_grant_in_flight_is_refused) {
  bucket_pacer pacer{5s};
  GQ_EXPECT_CONTRACT_VIOLATION(pacer.grant_sent(t0), "grant_sent without a grant in flight");
  GQ_EXPECT_CONTRACT_VIOLATION(pacer.grant_abandoned(), "grant_abandoned without a grant");
}

TEST(bucket_pacer_contract, a_zero_interval_is_refused) {
  GQ_EXPECT_CONTRACT_VIOLATION(bucket_pacer{bucket_pacer::duration::zero()}, "positive interval");
}

}  // namespace
}  // namespace gq
