// The ledger on a PostgreSQL journal whose writer session ends (a network cut, a database
// restart, an operator): with it went the journal's lock, and another queue may be granting. The
// ledger notices within one check interval even while idle, tells the server once (which stands
// the process by), and grants nothing more: every permit is answered `unavailable`.
#include <atomic>
#include <memory>

#include "actor_fixture.hpp"
#include "support/postgres_server.hpp"

namespace gq::testing {
namespace {

class ledger_writer_lost : public actor_fixture {
 protected:
  void SetUp() override {
    postgres_ = &postgres_server::shared();
    database_ = postgres_->create_database();
    journal_ = storage::open_journal(
        postgres_->uri(database_),
        {storage::durability::normal, storage::integrity_check::at_open, true});
    ledger_config config;
    config.anchor = anchor_;
    config.on_writer_lost = [lost = lost_] { ++*lost; };
    config.writer_check_interval = 500ms;
    ledger_ = spawn_ledger(system_, journal_, config, actor_thread::scheduler);
    ledger_bot_config bot;
    bot.configured = configured(1000);
    ask<bot_recovery>(ledger_, join_atom::value, k_bot, bot);
  }

  verdict_kind permit(std::uint64_t id) {
    auto answer = std::make_shared<std::optional<verdict_kind>>();
    const waiter_ticket ticket{id, id, anchor_.to_unix(sched_.clock().now())};
    const caf::timespan due = sched_.clock().now().time_since_epoch();
    auto ledger = ledger_;
    system_.spawn([=](caf::event_based_actor* self) {
      self->request(ledger, caf::infinite, permit_atom::value, k_bot, ticket, std::uint32_t{0},
                    std::uint32_t{1}, due)
          .then([=](verdict result) { *answer = result.kind; });
    });
    sched_.run();
    EXPECT_TRUE(answer->has_value()) << "permit " << id << " was not answered";
    return answer->value_or(verdict_kind::shutting_down);
  }

  void end_writer_session() {
    postgres_->admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                         database_ + "' AND pid <> pg_backend_pid()",
                     database_);
  }

  std::string rows() { return postgres_->admin("SELECT count(*) FROM releases", database_).at(0); }

  postgres_server* postgres_ = nullptr;
  std::string database_;
  std::shared_ptr<std::atomic<int>> lost_ = std::make_shared<std::atomic<int>>(0);
};

TEST_F(ledger_writer_lost, an_idle_ledger_notices_within_one_check_and_grants_nothing_more) {
  EXPECT_EQ(permit(1), verdict_kind::granted);
  end_writer_session();
  advance(400ms);
  EXPECT_EQ(*lost_, 0) << "no check has run yet";
  advance(100ms);
  EXPECT_EQ(*lost_, 1) << "the check's round trip found the session gone";
  EXPECT_EQ(permit(2), verdict_kind::unavailable);
  advance(5s);
  EXPECT_EQ(permit(3), verdict_kind::unavailable) << "not even once the database is back";
  EXPECT_EQ(*lost_, 1) << "told once";
  EXPECT_EQ(rows(), "1");
}

TEST_F(ledger_writer_lost, a_commit_on_an_ended_session_is_refused_and_told) {
  end_writer_session();
  EXPECT_EQ(permit(1), verdict_kind::unavailable);
  EXPECT_EQ(*lost_, 1) << "the failed commit told it, before any check";
  EXPECT_EQ(rows(), "0");
}

TEST_F(ledger_writer_lost, a_live_session_is_never_taken_for_lost) {
  advance(5s);
  EXPECT_EQ(permit(1), verdict_kind::granted);
  EXPECT_EQ(*lost_, 0);
}

}  // namespace
}  // namespace gq::testing
