#include "actors/pacing/bucket_pacer.hpp"

#include <gtest/gtest.h>

namespace gq {
namespace {

using namespace std::chrono_literals;
using time_point = bucket_pacer::time_point;

// A fake clock: tests move time by hand, nothing sleeps.
const time_point t0 = time_point{} + 1000h;

TEST(bucket_pacer, idle_bucket_grants_at_once) {
  bucket_pacer pacer{5s};
  EXPECT_TRUE(pacer.ready(t0));
}

TEST(bucket_pacer, same_bucket_is_serial_at_the_interval) {
  bucket_pacer pacer{5s};
  pacer.begin_grant();
  EXPECT_FALSE(pacer.ready(t0)) << "one grant in flight at a time";
  pacer.grant_sent(t0);
  EXPECT_FALSE(pacer.ready(t0 + 4999ms));
  EXPECT_TRUE(pacer.ready(t0 + 5000ms));
  EXPECT_EQ(pacer.next_grant_at(), t0 + 5s);
}

TEST(bucket_pacer, interval_runs_from_the_send_not_the_decision) {
  bucket_pacer pacer{400ms};
  pacer.begin_grant();         // decided at t0 ...
  pacer.grant_sent(t0 + 3ms);  // ... reached the socket 3 ms later
  EXPECT_FALSE(pacer.ready(t0 + 401ms));
  EXPECT_TRUE(pacer.ready(t0 + 403ms));
}

TEST(bucket_pacer, abandoned_grant_uses_no_interval) {
  bucket_pacer pacer{5s};
  pacer.grant_sent(t0);
  pacer.begin_grant();
  pacer.grant_abandoned();
  EXPECT_TRUE(pacer.ready(t0 + 5s));
  EXPECT_EQ(pacer.next_grant_at(), t0 + 5s);
}

TEST(bucket_pacer, not_before_only_moves_later) {
  bucket_pacer pacer{5s};
  pacer.not_before(t0 + 2s);
  pacer.not_before(t0 + 1s);
  EXPECT_EQ(pacer.next_grant_at(), t0 + 2s);
  EXPECT_FALSE(pacer.ready(t0 + 1999ms));
  EXPECT_TRUE(pacer.ready(t0 + 2s));
}

TEST(bucket_pacer, buckets_are_independent) {
  bucket_pacer first{5s};
  bucket_pacer second{5s};
  first.begin_grant();
  first.grant_sent(t0);
  EXPECT_FALSE(first.ready(t0 + 1ms));
  EXPECT_TRUE(second.ready(t0 + 1ms));
}

}  // namespace
}  // namespace gq
