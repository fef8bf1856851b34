// actors/ledger.cpp with ledger_config::await_verified, as the server runs it: the journal's
// integrity check runs after start, and until `verified` arrives nothing is granted, refused or
// journaled; waiters are held, then served in order.
#include <gtest/gtest.h>

#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

class ledger_verified : public actor_fixture {
 protected:
  ledger_verified() {
    // A journal from an earlier run: only such a file opens with its check deferred.
    { const storage::sqlite_journal earlier(db_path_); }
    deferred_check_ = true;
  }

  void verify() {
    journal_->verify();
    caf::anon_send(ledger_, verified_atom::value);
    sched_.run();
  }
};

TEST_F(ledger_verified, waiters_are_held_until_the_journal_is_verified_then_granted_in_order) {
  start(configured(100, 1), 1000ms);
  ASSERT_FALSE(journal_->verified());
  enqueue(1, 0);
  enqueue(2, 0);
  advance(3s);
  EXPECT_FALSE(verdict_of(1).has_value()) << "held, neither granted nor refused";
  EXPECT_FALSE(verdict_of(2).has_value());
  EXPECT_TRUE(journal_rows().empty());
  EXPECT_FALSE(ask<queue_status>(gate_, status_atom::value).ledger.limits_known);

  verify();
  advance(10ms);
  EXPECT_TRUE(granted(1));
  EXPECT_FALSE(granted(2)) << "the interval still applies";
  advance_by_steps(1100ms, 10ms);
  EXPECT_TRUE(granted(2));
  EXPECT_EQ(grant_order(), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(journal_rows().size(), 2u);
}

TEST_F(ledger_verified, limits_fetched_before_the_check_are_applied_and_journaled_after_it) {
  start(std::nullopt);  // limits come from Discord
  session_limits fetched;
  fetched.total = 1000;
  fetched.remaining = 5;
  fetched.reset_at = k_wall_start + 3'600'000;
  fetched.source = limits_source::discord;
  fetched.fetched_at = k_wall_start;
  caf::anon_send(ledger_, limits_atom::value, k_bot, fetched);
  enqueue(1, 0);
  advance(1s);
  EXPECT_FALSE(verdict_of(1).has_value());

  verify();
  advance(10ms);
  EXPECT_TRUE(granted(1));
  const auto status = ask<queue_status>(gate_, status_atom::value);
  EXPECT_TRUE(status.ledger.limits_known);
  EXPECT_EQ(status.ledger.limits.remaining, 4u);
  EXPECT_EQ(journal_->recover().limits, fetched) << "journaled once the journal may be written";
}

}  // namespace
}  // namespace gq::testing
