// When and how the limits scheduler reads Discord, on CAF's test coordinator with a fake fetcher.
#include "actors/limits_scheduler.hpp"

#include <deque>

#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

class limits_scheduler_flow : public actor_fixture {
 protected:
  // Answers fetches from a script; once the script is used up, repeats its last answer.
  struct fake_discord {
    std::deque<limits_fetch> script;
    limits_fetch last;
    int calls = 0;
    limits_fetch next() {
      ++calls;
      if (!script.empty()) {
        last = script.front();
        script.pop_front();
      }
      return last;
    }
  };

  limits_fetch ok(std::uint32_t remaining, std::uint32_t max_concurrency = 1,
                  std::chrono::milliseconds reset_after = 24h) {
    limits_fetch f;
    f.result = limits_fetch::outcome::ok;
    const auto t = anchor_.to_unix(now());
    f.limits = {1000, remaining, t + reset_after.count(), max_concurrency, limits_source::discord,
                t};
    return f;
  }

  static limits_fetch of(limits_fetch::outcome outcome, std::chrono::milliseconds retry = 0ms) {
    limits_fetch f;
    f.result = outcome;
    f.retry_after = retry;
    f.detail = "scripted";
    return f;
  }

  void start_scheduler(std::chrono::seconds refresh = 300s) {
    start(std::nullopt, 1000ms);
    limits_scheduler_config cfg;
    cfg.ledger = ledger_;
    cfg.refresh_interval = refresh;
    cfg.anchor = anchor_;
    scheduler_ = spawn_limits_scheduler(system_, cfg, actor_thread::scheduler);
    caf::anon_send(ledger_, watch_atom::value, refresh_target_actor{scheduler_});
    limits_bot bot;
    bot.name = "default";
    auto discord = discord_;
    bot.fetch = [discord] { return discord->next(); };
    bot.gate = gate_;
    auto rejected = rejected_;
    bot.token_rejected_at_start = [rejected](const std::string&) { ++*rejected; };
    caf::anon_send(scheduler_, join_atom::value, k_bot, bot);
    sched_.run();
  }

  ~limits_scheduler_flow() override {
    if (scheduler_) caf::anon_send_exit(scheduler_, caf::exit_reason::user_shutdown);
    sched_.run();
  }

  ledger_status ledger_now() { return ask<ledger_status>(ledger_, status_atom::value, k_bot); }

  std::shared_ptr<fake_discord> discord_ = std::make_shared<fake_discord>();
  std::shared_ptr<int> rejected_ = std::make_shared<int>(0);
  limits_scheduler_actor scheduler_;
};

TEST_F(limits_scheduler_flow, reads_limits_at_start_and_every_refresh_interval) {
  discord_->script = {ok(900)};
  start_scheduler(300s);
  EXPECT_EQ(discord_->calls, 1);
  EXPECT_TRUE(ledger_now().limits_known);
  EXPECT_EQ(ledger_now().limits.remaining, 900u);
  advance(299s);
  EXPECT_EQ(discord_->calls, 1);
  advance(1s);
  EXPECT_EQ(discord_->calls, 2);
}

TEST_F(limits_scheduler_flow, rereads_at_the_daily_reset) {
  discord_->script = {ok(900, 1, 10s)};
  start_scheduler(300s);
  advance(11s);  // reset after 10 s, re-read a second later
  EXPECT_EQ(discord_->calls, 2);
}

TEST_F(limits_scheduler_flow, rereads_when_remaining_reaches_zero) {
  discord_->script = {ok(1), ok(500)};
  start_scheduler(300s);
  enqueue(1, 0);
  EXPECT_TRUE(granted(1));
  advance(20ms);  // two reads are at least refresh_timing::min_gap apart
  EXPECT_EQ(discord_->calls, 2) << "the ledger asked for a refresh when remaining hit 0";
}

TEST_F(limits_scheduler_flow, each_bot_is_read_with_its_own_fetcher_and_its_outage_is_its_own) {
  discord_->script = {ok(900)};
  start_scheduler(60s);
  auto other = std::make_shared<fake_discord>();
  other->script = {of(limits_fetch::outcome::failed)};
  limits_bot second;
  second.name = "second";
  second.fetch = [other] { return other->next(); };
  second.gate = gate_;
  caf::anon_send(scheduler_, join_atom::value, bot_key{7}, second);
  sched_.run();
  advance(20ms);
  EXPECT_EQ(other->calls, 1);
  // The second bot backs off and retries on its own; the first keeps its interval.
  advance_by_steps(60s, 100ms);
  EXPECT_EQ(discord_->calls, 2);
  EXPECT_GE(other->calls, 3) << "backing off from 1 s, capped at 60 s";
  caf::anon_send(scheduler_, leave_atom::value, bot_key{7});
  sched_.run();
  const auto calls_at_leave = other->calls;
  advance_by_steps(10min, 1s);
  EXPECT_EQ(other->calls, calls_at_leave) << "a bot that left is not read again";
}

TEST_F(limits_scheduler_flow, grants_follow_max_concurrency) {
  discord_->script = {ok(1000, 4)};
  start_scheduler();
  for (std::uint64_t shard = 0; shard < 4; ++shard) enqueue(shard + 1, shard);
  for (std::uint64_t id = 1; id <= 4; ++id) EXPECT_TRUE(granted(id)) << "shard " << id - 1;
  EXPECT_EQ(ask<queue_status>(gate_, status_atom::value).buckets.size(), 4u);
}

TEST_F(limits_scheduler_flow, raised_max_concurrency_is_picked_up_on_refresh) {
  discord_->script = {ok(1000, 1), ok(1000, 2)};
  start_scheduler(60s);
  EXPECT_EQ(ask<queue_status>(gate_, status_atom::value).max_concurrency, 1u);
  advance(60s);
  EXPECT_EQ(ask<queue_status>(gate_, status_atom::value).max_concurrency, 2u);
}

TEST_F(limits_scheduler_flow, rejected_token_at_start_stops_without_retrying) {
  discord_->script = {of(limits_fetch::outcome::unauthorized)};
  start_scheduler();
  EXPECT_EQ(*rejected_, 1);
  advance(1h);
  EXPECT_EQ(discord_->calls, 1) << "no retry storm against Discord";
}

TEST_F(limits_scheduler_flow, rejected_token_later_keeps_serving_on_the_last_limits) {
  discord_->script = {ok(900), of(limits_fetch::outcome::unauthorized)};
  start_scheduler(60s);
  advance(60s);
  EXPECT_EQ(*rejected_, 0) << "not fatal after a success";
  EXPECT_TRUE(ledger_now().discord_stopped);
  advance(1h);
  EXPECT_EQ(discord_->calls, 2);
  enqueue(1, 0);
  EXPECT_TRUE(granted(1));
}

TEST_F(limits_scheduler_flow, rate_limit_waits_retry_after) {
  discord_->script = {of(limits_fetch::outcome::rate_limited, 7000ms), ok(900)};
  start_scheduler();
  advance(6999ms);
  EXPECT_EQ(discord_->calls, 1);
  advance(1ms);
  EXPECT_EQ(discord_->calls, 2);
  EXPECT_TRUE(ledger_now().limits_known);
}

TEST_F(limits_scheduler_flow, outage_at_start_holds_grants_then_rides_it_out) {
  discord_->script = {of(limits_fetch::outcome::failed), of(limits_fetch::outcome::failed),
                      ok(900)};
  start_scheduler();
  enqueue(1, 0);
  EXPECT_FALSE(granted(1)) << "no limits known: held";
  advance_by_steps(10s, 100ms);  // backoff: 0.5-1 s, then 1-2 s
  EXPECT_EQ(discord_->calls, 3);
  EXPECT_TRUE(granted(1));
}

TEST_F(limits_scheduler_flow, failures_keep_the_last_good_limits) {
  discord_->script = {ok(900), of(limits_fetch::outcome::failed)};
  start_scheduler(60s);
  advance(60s);
  EXPECT_EQ(discord_->calls, 2);
  EXPECT_EQ(ledger_now().limits.remaining, 900u);
  enqueue(1, 0);
  EXPECT_TRUE(granted(1));
}

TEST_F(limits_scheduler_flow, effective_remaining_subtracts_grants_made_during_the_fetch) {
  discord_->script = {ok(1000)};
  start_scheduler(60s);
  enqueue(1, 0);
  // The next fetch reports 10 left; the one grant above was made before it began, so it stands.
  discord_->script = {ok(10)};
  advance(60s);
  EXPECT_EQ(ledger_now().limits.remaining, 10u);
}

// -- counters for /metrics --------------------------------------------------------------------

TEST_F(limits_scheduler_flow, counts_each_read_by_result_and_says_whether_discord_is_up) {
  discord_->script = {of(limits_fetch::outcome::failed), ok(900),
                      of(limits_fetch::outcome::rate_limited, 5000ms), ok(900),
                      of(limits_fetch::outcome::unauthorized)};
  start_scheduler(60s);
  EXPECT_EQ(ledger_now().refreshes.error, 1u);
  EXPECT_FALSE(ledger_now().discord_up) << "no read has succeeded yet";
  advance_by_steps(3s, 100ms);  // backoff after the failure: at most 1 s
  EXPECT_EQ(ledger_now().refreshes.ok, 1u);
  EXPECT_TRUE(ledger_now().discord_up);
  advance(60s);
  EXPECT_EQ(ledger_now().refreshes.rate_limited, 1u);
  EXPECT_FALSE(ledger_now().discord_up) << "the last read did not succeed";
  advance(5s);
  EXPECT_EQ(ledger_now().refreshes.ok, 2u);
  EXPECT_TRUE(ledger_now().discord_up);
  advance(60s);
  const auto status = ledger_now();
  EXPECT_EQ(status.refreshes.unauthorized, 1u);
  EXPECT_FALSE(status.discord_up) << "the token was rejected";
  EXPECT_EQ(status.refreshes.ok + status.refreshes.error + status.refreshes.rate_limited +
                status.refreshes.unauthorized,
            static_cast<std::uint64_t>(discord_->calls))
      << "every read counted once";
}

}  // namespace
}  // namespace gq::testing
