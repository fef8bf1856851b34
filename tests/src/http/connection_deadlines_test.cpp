// src/http/connection_deadlines.cpp: which connection times out when, and which one makes room at
// the cap. Times are made up; nothing sleeps.

#include "src/http/connection_deadlines.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "support/contract_death.hpp"

namespace gq {
namespace {

using namespace std::chrono_literals;
using time_point = connection_deadlines::time_point;

const time_point t0{std::chrono::hours{1}};

std::unique_ptr<deadline_link> link_for(std::int32_t owner) {
  auto link = std::make_unique<deadline_link>();
  link->owner = owner;
  return link;
}

TEST(connection_deadlines, a_new_connection_expires_after_the_request_timeout) {
  connection_deadlines deadlines(10s, 60s);
  auto a = link_for(1);
  deadlines.set(*a, deadline_kind::fresh, t0);
  EXPECT_EQ(deadlines.first_expired(t0 + 9s), nullptr);
  EXPECT_EQ(deadlines.first_expired(t0 + 10s), a.get());
}

TEST(connection_deadlines, a_request_runs_from_the_connect_not_from_its_latest_byte) {
  connection_deadlines deadlines(10s, 60s);
  auto a = link_for(1);
  deadlines.set(*a, deadline_kind::fresh, t0);
  deadlines.set(*a, deadline_kind::reading, t0 + 5s);
  deadlines.set(*a, deadline_kind::reading, t0 + 9s);  // trickled bytes change nothing
  EXPECT_EQ(deadlines.first_expired(t0 + 10s), a.get());
  EXPECT_EQ(a->kind(), deadline_kind::reading);
}

TEST(connection_deadlines, idle_connections_get_the_idle_timeout_from_when_they_fell_idle) {
  connection_deadlines deadlines(10s, 60s);
  auto a = link_for(1);
  deadlines.set(*a, deadline_kind::idle, t0);
  EXPECT_EQ(deadlines.first_expired(t0 + 59s), nullptr);
  EXPECT_EQ(deadlines.first_expired(t0 + 60s), a.get());
  // A new request restarts the clock with the request timeout.
  deadlines.set(*a, deadline_kind::reading, t0 + 30s);
  EXPECT_EQ(deadlines.first_expired(t0 + 39s), nullptr);
  EXPECT_EQ(deadlines.first_expired(t0 + 40s), a.get());
}

TEST(connection_deadlines, connections_being_answered_never_expire_and_are_never_evicted) {
  connection_deadlines deadlines(10s, 60s);
  auto waiter = link_for(1);
  deadlines.set(*waiter, deadline_kind::fresh, t0);
  deadlines.set(*waiter, deadline_kind::none, t0 + 1s);  // its request arrived: it waits
  EXPECT_EQ(deadlines.first_expired(t0 + 24h), nullptr);
  EXPECT_EQ(deadlines.oldest(), nullptr);
  EXPECT_TRUE(deadlines.empty());
}

TEST(connection_deadlines, the_earliest_deadline_of_either_list_expires_first) {
  connection_deadlines deadlines(10s, 3s);
  auto reading = link_for(1);
  auto idle = link_for(2);
  deadlines.set(*reading, deadline_kind::reading, t0);  // due t0 + 10 s
  deadlines.set(*idle, deadline_kind::idle, t0 + 1s);   // due t0 + 4 s
  EXPECT_EQ(deadlines.first_expired(t0 + 20s), idle.get());
  deadlines.set(*idle, deadline_kind::none, t0 + 20s);  // closed
  EXPECT_EQ(deadlines.first_expired(t0 + 20s), reading.get());
}

TEST(connection_deadlines, oldest_is_the_earliest_to_enter_either_list) {
  connection_deadlines deadlines(10s, 60s);
  auto a = link_for(1);
  auto b = link_for(2);
  auto c = link_for(3);
  deadlines.set(*a, deadline_kind::fresh, t0 + 2s);
  deadlines.set(*b, deadline_kind::idle, t0 + 1s);
  deadlines.set(*c, deadline_kind::reading, t0 + 3s);
  EXPECT_EQ(deadlines.oldest(), b.get());
  deadlines.set(*b, deadline_kind::none, t0 + 4s);
  EXPECT_EQ(deadlines.oldest(), a.get());
  deadlines.set(*a, deadline_kind::none, t0 + 5s);
  EXPECT_EQ(deadlines.oldest(), c.get());
  deadlines.set(*c, deadline_kind::none, t0 + 5s);
  EXPECT_EQ(deadlines.oldest(), nullptr);
}

TEST(connection_deadlines, leaving_and_reentering_a_list_goes_to_its_back) {
  connection_deadlines deadlines(10s, 60s);
  auto a = link_for(1);
  auto b = link_for(2);
  deadlines.set(*a, deadline_kind::idle, t0);
  deadlines.set(*b, deadline_kind::idle, t0 + 1s);
  deadlines.set(*a, deadline_kind::none, t0 + 2s);
  deadlines.set(*a, deadline_kind::idle, t0 + 3s);
  EXPECT_EQ(deadlines.oldest(), b.get());
  EXPECT_EQ(deadlines.first_expired(t0 + 61s), b.get());
  deadlines.set(*b, deadline_kind::none, t0 + 61s);
  EXPECT_EQ(deadlines.first_expired(t0 + 62s), nullptr);
  EXPECT_EQ(deadlines.first_expired(t0 + 63s), a.get());
}

TEST(connection_deadlines_contract, timeouts_change_only_while_the_lists_are_empty) {
  connection_deadlines deadlines(10s, 60s);
  auto a = link_for(1);
  deadlines.set(*a, deadline_kind::idle, t0);
  GQ_EXPECT_CONTRACT_VIOLATION(deadlines.set_timeouts(1s, 1s), "with connections in the lists");
  deadlines.set(*a, deadline_kind::none, t0);
}

TEST(connection_deadlines_contract, a_list_is_entered_in_time_order) {
  connection_deadlines deadlines(10s, 60s);
  auto a = link_for(1);
  auto b = link_for(2);
  deadlines.set(*a, deadline_kind::idle, t0 + 1s);
  GQ_EXPECT_CONTRACT_VIOLATION(deadlines.set(*b, deadline_kind::idle, t0), "time went back");
  deadlines.set(*a, deadline_kind::none, t0 + 1s);
}

}  // namespace
}  // namespace gq
