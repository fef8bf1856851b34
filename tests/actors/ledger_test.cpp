// actors/ledger.cpp on CAF's test coordinator: permits that arrive together share one journal
// transaction, a used-up budget holds permits (or refuses them under reject), a failed commit
// answers `unavailable` and gives the budget back, and a held permit can be withdrawn. The ledger
// is asked directly, as a bucket asks it, without gate or buckets in between.
#include "actor_fixture.hpp"
#include "storage/test_support.hpp"

namespace gq::testing {
namespace {

class ledger_flow : public actor_fixture {
 protected:
  void start_ledger(std::optional<session_limits> limits, bool reject = false) {
    journal_ = std::make_shared<storage::sqlite_journal>(db_path_, storage::durability::normal);
    ledger_config config;
    config.anchor = anchor_;
    ledger_ = spawn_ledger(system_, journal_, config, actor_thread::scheduler);
    ledger_bot_config bot;
    bot.reject_when_exhausted = reject;
    bot.configured = limits;
    ask<bot_recovery>(ledger_, join_atom::value, k_bot, bot);
  }

  // Asks for a permit per id, all sent before the ledger handles the first, as buckets whose
  // heads fall due together do. Each id is also the waiter's shard. With `then_withdraw`, its
  // waiter leaves right after asking, before the ledger has committed anything.
  void ask_permits(std::vector<std::uint64_t> ids, bool then_withdraw = false) {
    auto answers = answers_;
    auto ledger = ledger_;
    const unix_ms now = anchor_.to_unix(sched_.clock().now());
    const caf::timespan due = sched_.clock().now().time_since_epoch();
    system_.spawn([=](caf::event_based_actor* self) {
      for (const auto id : ids) {
        const waiter_ticket ticket{id, id, now};
        self->request(ledger, caf::infinite, permit_atom::value, k_bot, ticket, std::uint32_t{0},
                      std::uint32_t{1}, due)
            .then([=](verdict result) { (*answers)[id] = result; });
        if (then_withdraw) self->send(ledger, withdraw_atom::value, k_bot, id);
      }
    });
    sched_.run();
  }

  std::optional<verdict> answer(std::uint64_t id) const {
    auto i = answers_->find(id);
    if (i == answers_->end()) return std::nullopt;
    return i->second;
  }

  std::optional<verdict_kind> kind_of(std::uint64_t id) const {
    auto found = answer(id);
    return found ? std::optional{found->kind} : std::nullopt;
  }

  ledger_status status() { return ask<ledger_status>(ledger_, status_atom::value, k_bot); }

  std::shared_ptr<std::map<std::uint64_t, verdict>> answers_ =
      std::make_shared<std::map<std::uint64_t, verdict>>();
};

TEST_F(ledger_flow, permits_that_arrive_together_are_journaled_in_one_transaction) {
  start_ledger(configured(1000));
  const auto transactions_before = status().commit_seconds.total();  // the configured limits
  ask_permits({1, 2, 3, 4, 5});
  for (std::uint64_t id = 1; id <= 5; ++id) EXPECT_EQ(kind_of(id), verdict_kind::granted) << id;
  const auto after = status();
  EXPECT_EQ(after.commit_seconds.total(), transactions_before + 1) << "one commit for the batch";
  EXPECT_EQ(after.grants_total, 5u);
  EXPECT_EQ(after.limits.remaining, 995u);
  const auto rows = journal_rows();
  ASSERT_EQ(rows.size(), 5u);
  for (const auto& row : rows) EXPECT_EQ(row.released_at, answer(*row.shard)->at);
}

// A reload that changes a bot's interval restarts it: the ledger sees `leave` and a `join` under
// a new key, possibly while a grant of the old buckets is still in the batch. The recovery the
// new buckets resume from must count that grant, or they could grant its bucket again at once.
TEST_F(ledger_flow, a_bot_that_joins_again_recovers_the_grant_still_in_the_batch) {
  start_ledger(configured(1000));
  auto recovered = std::make_shared<std::optional<bot_recovery>>();
  auto granted = std::make_shared<std::optional<verdict>>();
  auto ledger = ledger_;
  const unix_ms now = anchor_.to_unix(sched_.clock().now());
  const caf::timespan due = sched_.clock().now().time_since_epoch();
  ledger_bot_config again;
  again.configured = configured(1000);
  // All three are in the ledger's mailbox before it handles the permit, so the flush the permit
  // schedules comes after the join.
  system_.spawn([=](caf::event_based_actor* self) {
    self->request(ledger, caf::infinite, permit_atom::value, k_bot, waiter_ticket{1, 7, now},
                  std::uint32_t{0}, std::uint32_t{1}, due)
        .then([=](verdict result) { *granted = result; });
    self->send(ledger, leave_atom::value, k_bot);
    self->request(ledger, caf::infinite, join_atom::value, bot_key{1}, again)
        .then([=](bot_recovery answer) { *recovered = std::move(answer); });
  });
  sched_.run();
  ASSERT_TRUE(granted->has_value());
  ASSERT_EQ((*granted)->kind, verdict_kind::granted);
  ASSERT_TRUE(recovered->has_value());
  const auto& journaled = (*recovered)->journaled;
  ASSERT_EQ(journaled.last_release_by_bucket.size(), 1u);
  EXPECT_EQ(journaled.last_release_by_bucket[0], (*granted)->at)
      << "the new buckets must resume after the grant of the old ones";
}

TEST_F(ledger_flow, a_restart_configured_as_before_journals_no_second_limits_row) {
  const auto limits_rows = [this] {
    return storage::testing::raw_db(db_path_).rows(
        "SELECT total, reset_at FROM limits ORDER BY id");
  };
  const auto restart = [this](const session_limits& limits) {
    caf::anon_send_exit(ledger_, caf::exit_reason::user_shutdown);
    sched_.run();
    start_ledger(limits);
  };
  start_ledger(configured(1000));
  ASSERT_EQ(limits_rows().size(), 1u);
  advance(1h);
  restart(configured(1000));
  EXPECT_EQ(limits_rows().size(), 1u) << "same limits, same window";
  restart(configured(500));
  EXPECT_EQ(limits_rows().size(), 2u) << "a new daily limit is journaled";
  advance(std::chrono::milliseconds{daily_budget::k_day_ms});
  restart(configured(500));
  const auto rows = limits_rows();
  ASSERT_EQ(rows.size(), 3u) << "a new window is journaled";
  EXPECT_NE(rows[2][1], rows[1][1]);
}

TEST_F(ledger_flow, permits_beyond_the_budget_are_held_until_the_window_resets) {
  start_ledger(configured(2));
  ask_permits({1, 2, 3});
  EXPECT_EQ(kind_of(1), verdict_kind::granted);
  EXPECT_EQ(kind_of(2), verdict_kind::granted);
  EXPECT_FALSE(kind_of(3)) << "held: no answer until budget exists";
  EXPECT_EQ(status().held, 1u);
  EXPECT_EQ(journal_rows().size(), 2u);

  advance(std::chrono::milliseconds{daily_budget::k_day_ms} - 1ms);
  EXPECT_FALSE(kind_of(3)) << "a millisecond before the reset";
  advance(1ms);
  EXPECT_EQ(kind_of(3), verdict_kind::granted);
  EXPECT_EQ(status().held, 0u);
  EXPECT_EQ(journal_rows().size(), 3u);
}

TEST_F(ledger_flow, permits_beyond_the_budget_are_refused_until_the_reset_under_reject) {
  start_ledger(configured(2), true);
  ask_permits({1, 2, 3});
  EXPECT_EQ(kind_of(1), verdict_kind::granted);
  EXPECT_EQ(kind_of(2), verdict_kind::granted);
  ASSERT_EQ(kind_of(3), verdict_kind::exhausted);
  EXPECT_EQ(answer(3)->at, k_wall_start + daily_budget::k_day_ms) << "retry at the reset";
  EXPECT_EQ(status().held, 0u);
  EXPECT_EQ(journal_rows().size(), 2u);
}

TEST_F(ledger_flow, permits_wait_for_the_first_limits_when_they_come_from_discord) {
  start_ledger(std::nullopt);
  ask_permits({1});
  EXPECT_FALSE(kind_of(1)) << "nothing is granted while the budget is unknown";
  auto limits = configured(10);
  limits.source = limits_source::discord;
  limits.reset_at = k_wall_start + 3'600'000;
  caf::anon_send(ledger_, limits_atom::value, k_bot, limits);
  sched_.run();
  EXPECT_EQ(kind_of(1), verdict_kind::granted);
}

TEST_F(ledger_flow, a_failed_commit_answers_unavailable_and_gives_the_budget_back) {
  start_ledger(configured(2));
  storage::testing::raw_db saboteur(db_path_);
  saboteur.exec(
      "CREATE TRIGGER fail_every_grant BEFORE INSERT ON releases "
      "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END");
  ask_permits({1, 2});
  EXPECT_EQ(kind_of(1), verdict_kind::unavailable);
  EXPECT_EQ(kind_of(2), verdict_kind::unavailable);
  auto after_failure = status();
  EXPECT_EQ(after_failure.journal_failures, 1u) << "one failed transaction for the batch";
  EXPECT_EQ(after_failure.grants_total, 0u);
  EXPECT_EQ(after_failure.limits.remaining, 2u) << "nothing was granted, nothing is spent";

  saboteur.exec("DROP TRIGGER fail_every_grant");
  ask_permits({3, 4});
  EXPECT_EQ(kind_of(3), verdict_kind::granted);
  EXPECT_EQ(kind_of(4), verdict_kind::granted) << "the refunded budget is spent again";
  EXPECT_EQ(journal_rows().size(), 2u);
}

TEST_F(ledger_flow, a_withdrawn_held_permit_is_answered_and_costs_nothing) {
  start_ledger(configured(1));
  ask_permits({1, 2});
  ASSERT_EQ(kind_of(1), verdict_kind::granted);
  ASSERT_FALSE(kind_of(2));
  caf::anon_send(ledger_, withdraw_atom::value, k_bot, std::uint64_t{2});
  sched_.run();
  EXPECT_EQ(kind_of(2), verdict_kind::withdrawn);
  EXPECT_EQ(status().held, 0u);

  // At the reset the withdrawn permit is not granted: the new window's budget is whole.
  advance(std::chrono::milliseconds{daily_budget::k_day_ms});
  EXPECT_EQ(kind_of(2), verdict_kind::withdrawn);
  EXPECT_EQ(journal_rows().size(), 1u);
  EXPECT_EQ(status().limits.remaining, 1u);
}

// The bucket's withdraw races the commit: once admitted to the batch, the grant is journaled
// and the bucket counts it (it answers `sent` at the due instant).
TEST_F(ledger_flow, a_withdraw_after_the_permit_was_admitted_leaves_the_grant_standing) {
  start_ledger(configured(10));
  ask_permits({1}, true);
  EXPECT_EQ(kind_of(1), verdict_kind::granted);
  EXPECT_EQ(journal_rows().size(), 1u) << "a journaled grant counts";
  EXPECT_EQ(status().limits.remaining, 9u);
}

}  // namespace
}  // namespace gq::testing
