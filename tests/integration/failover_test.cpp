// The hot standby through the real binary: two or three gateway-queue processes on one
// PostgreSQL journal (a throwaway cluster, tests/support/postgres_server.hpp), one active (it
// holds the journal's advisory lock on its writer session), the others standbys that take over
// when the lock frees. What the tests pin, at the clients and in the journal:
//   - a standby is serving (GET /ready 200) within 2 s of the active's death;
//   - no bucket sees two grants closer than the interval, whichever queues sent them;
//   - the daily budget holds across every failover (the count continues from the journal);
//   - every 200 a client received is in the journal;
//   - a frozen active (SIGSTOP) keeps its session, so nobody takes over; once the network path to
//     the database is cut (tests/support/tcp_proxy.hpp) the database ends the session, a standby
//     takes over, and the frozen one, resumed, sends no 200 while it lacks the lock (none at all
//     after a long freeze; after a short one at most a grant it had journaled, within
//     k_recovery_margin of its due instant, which the queue that took over waited for).
// The checks and their spacing tolerance: failover_checks.hpp.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/failover_checks.hpp"
#include "integration/failover_support.hpp"
#include "integration/server_process.hpp"
#include "support/postgres_server.hpp"
#include "support/tcp_proxy.hpp"

namespace gq::integration {
namespace {

using namespace failover;
using gq::testing::postgres_server;
using gq::testing::tcp_proxy;

constexpr auto k_takeover_bound = 2s;

std::string proxied_uri(const tcp_proxy& proxy, const std::string& database) {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(proxy.port()) + "/" + database;
}

std::unique_ptr<server_process> queue_on(const std::string& uri, std::chrono::milliseconds interval,
                                         int max_concurrency, int daily_limit) {
  return std::make_unique<server_process>(std::initializer_list<env_map::value_type>{
      {"QUEUE_DB", uri},
      {"QUEUE_IDENTIFY_INTERVAL_MS", std::to_string(interval.count())},
      {"QUEUE_MAX_CONCURRENCY", std::to_string(max_concurrency)},
      {"QUEUE_DAILY_LIMIT", std::to_string(daily_limit)},
      {"QUEUE_ON_EXHAUSTED", "reject"}});
}

// kill -9 of the active while shards wait at it and drain, with a budget the drain uses up.
TEST(failover, kill9_of_the_active_mid_drain_keeps_spacing_and_budget) {
  constexpr auto k_interval = 300ms;
  constexpr int k_max_concurrency = 4;
  constexpr int k_shards = 64;
  constexpr int k_daily_limit = 40;
  postgres_server& postgres = postgres_server::shared();
  const std::string database = postgres.create_database();
  // Declared before the queues, so that on an early return the queues die first and no client
  // is left waiting for an answer.
  shard_clients clients(k_shards, 2, shard_clients::mode::drain, 0);
  auto a = queue_on(postgres.uri(database), k_interval, k_max_concurrency, k_daily_limit);
  auto b = queue_on(postgres.uri(database), k_interval, k_max_concurrency, k_daily_limit);
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(wait_for_active({a->port()}, 10s)) << a->output();
  ASSERT_TRUE(b->start());
  EXPECT_EQ(http_get(a->port(), "/ready").json(), nlohmann::json({{"status", "ready"}}));
  const auto standby_ready = http_get(b->port(), "/ready");
  EXPECT_EQ(standby_ready.status, 503) << b->output();
  EXPECT_EQ(standby_ready.json(), nlohmann::json({{"status", "standby"}})) << standby_ready.body;
  const auto standby_queue = http_get(b->port(), "/?shard=0");
  EXPECT_EQ(standby_queue.status, 503);
  EXPECT_EQ(standby_queue.header("Retry-After"), "1");
  EXPECT_TRUE(standby_queue.json().contains("error")) << standby_queue.body;

  clients.set_port(0, a->port());
  clients.set_port(1, b->port());
  clients.start();
  // Mid-drain: a quarter of the budget granted, every bucket busy.
  ASSERT_TRUE(clients.wait_granted(k_daily_limit / 4, 20s)) << a->output();
  const auto killed_at = std::chrono::steady_clock::now();
  a->kill9();
  clients.set_port(0, 0);
  const auto active = wait_for_active({0, b->port()}, 10s);
  ASSERT_TRUE(active) << b->output();
  const double takeover_ms = ms_since(killed_at, active->at);
  std::cout << "takeover after kill -9: " << takeover_ms << " ms\n";
  EXPECT_LE(takeover_ms, ms_of(k_takeover_bound)) << b->output();
  clients.prefer(1);
  ASSERT_TRUE(clients.wait_drained(30s))
      << clients.finished() << " of " << k_shards << " shards done\n"
      << b->output();
  clients.stop();

  const auto answers = clients.answers();
  EXPECT_GE(count_from(answers, 0, 200), 1);
  EXPECT_GE(count_from(answers, 1, 200), 1) << "no grant after the failover";
  EXPECT_GE(count_from(answers, 1, 429), 1) << "the budget was never used up";
  const auto rows = journal_of(postgres, database);
  EXPECT_EQ(rows.size(), static_cast<std::size_t>(k_daily_limit));
  expect_pacing_budget_and_journal(answers, rows, k_max_concurrency, k_interval, k_daily_limit);
  int checked = 0;
  const auto early = check_takeover_margin(answers, rows, {{1, killed_at, steady_time::max()}},
                                           k_max_concurrency, k_interval, checked);
  EXPECT_TRUE(early.empty()) << lines(early);
  EXPECT_GE(checked, 1) << "no bucket granted on both sides of the failover";
}

// The active frozen (SIGSTOP) with shards waiting: its session holds the lock, so the standby
// must wait; once the path to the database is cut the session ends and the standby takes over;
// the frozen one, resumed, answers its waiters 503 and grants nothing while it lacks the lock.
TEST(failover, frozen_active_is_replaced_only_when_its_session_ends_and_then_grants_nothing) {
  constexpr auto k_interval = 300ms;
  constexpr int k_max_concurrency = 4;
  constexpr int k_shards = 48;
  constexpr int k_daily_limit = 40;
  postgres_server& postgres = postgres_server::shared();
  const std::string database = postgres.create_database();
  tcp_proxy proxy(static_cast<std::uint16_t>(postgres.port()));
  shard_clients clients(k_shards, 2, shard_clients::mode::drain, 0);  // outlives the queues
  auto a = queue_on(proxied_uri(proxy, database), k_interval, k_max_concurrency, k_daily_limit);
  auto b = queue_on(postgres.uri(database), k_interval, k_max_concurrency, k_daily_limit);
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(wait_for_active({a->port()}, 10s)) << a->output();
  ASSERT_TRUE(b->start());
  ASSERT_GE(proxy.connections_relayed(), 1);

  clients.set_port(0, a->port());
  clients.set_port(1, b->port());
  clients.start();
  ASSERT_TRUE(clients.wait_granted(k_daily_limit / 4, 20s)) << a->output();
  // Frozen with a grant most likely in hand: a bucket asks for its next permit (journaled at
  // once) 100 ms before it is due (k_permit_lead), one interval after its last send. Whether one
  // was in hand is reported below; the verdicts hold either way.
  const auto last_grant = clients.grants().back().at;
  std::this_thread::sleep_until(last_grant + k_interval - 50ms);
  ASSERT_EQ(::kill(a->pid(), SIGSTOP), 0);
  const auto frozen_at = std::chrono::steady_clock::now();
  const auto frozen_unix_ms = unix_ms_now();

  // ~3 s frozen: the standby sees the lock held and stays a standby the whole time.
  std::vector<int> standby_answers;
  while (std::chrono::steady_clock::now() < frozen_at + 3s) {
    standby_answers.push_back(probe_status(b->port(), "/ready"));
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(std::all_of(standby_answers.begin(), standby_answers.end(),
                          [](int status) { return status == 503; }))
      << "the standby answered /ready other than 503 while the active was frozen\n"
      << b->output();
  EXPECT_EQ(probe_status(a->port(), "/ready"), 0) << "the frozen queue answered";

  const auto cut_at = std::chrono::steady_clock::now();
  proxy.cut();
  const auto active = wait_for_active({0, b->port()}, 10s);
  ASSERT_TRUE(active) << b->output();
  const auto taken_unix_ms = unix_ms_now();
  const double takeover_ms = ms_since(cut_at, active->at);
  std::cout << "takeover after the cut: " << takeover_ms << " ms\n";
  EXPECT_LE(takeover_ms, ms_of(k_takeover_bound)) << b->output();
  clients.prefer(1);

  const auto resumed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(a->pid(), SIGCONT), 0);
  // It notices the lost session and says /ready 503 (k_resume_notice_bound), and from then on
  // never 200, until every shard is done.
  const auto notice = watch_until_standby(a->port(), resumed_at, 5s);
  std::cout << "resumed queue: /ready 503 after " << notice.first_standby_ms << " ms, "
            << notice.ready_answers << " /ready 200 before\n";
  EXPECT_GE(notice.first_standby_ms, 0) << a->output();
  EXPECT_LE(notice.first_standby_ms, ms_of(k_resume_notice_bound)) << a->output();
  std::vector<int> resumed_ready;
  while (!clients.wait_drained(10ms) && std::chrono::steady_clock::now() < resumed_at + 30s) {
    resumed_ready.push_back(probe_status(a->port(), "/ready"));
  }
  ASSERT_TRUE(clients.wait_drained(0ms))
      << clients.finished() << " of " << k_shards << " shards done\n"
      << a->output() << b->output();
  // The path back: the resumed queue reconnects, finds the lock held, stays a standby.
  proxy.restore();
  const auto restored_at = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < restored_at + 1500ms) {
    resumed_ready.push_back(probe_status(a->port(), "/ready"));
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(std::count(resumed_ready.begin(), resumed_ready.end(), 200), 0)
      << "the resumed queue said /ready 200 again while the other held the lock\n"
      << a->output();
  EXPECT_EQ(http_get(a->port(), "/?shard=0").status, 503);
  clients.stop();

  const auto answers = clients.answers();
  std::vector<std::string> late;
  int refused_after_resume = 0;
  for (const auto& answer : answers) {
    if (answer.slot != 0 || answer.at < resumed_at) continue;
    if (answer.status == 503) ++refused_after_resume;
    if (answer.status == 200) {
      late.push_back("shard " + std::to_string(answer.shard) + " granted " +
                     std::to_string(ms_since(resumed_at, answer.at)) + " ms after SIGCONT");
    }
  }
  EXPECT_TRUE(late.empty()) << "the resumed queue sent 200s without the lock:\n"
                            << lines(late) << a->output();
  EXPECT_GE(refused_after_resume, 1) << "no waiter of the frozen queue was answered 503";
  EXPECT_GE(count_from(answers, 1, 200), 1) << "no grant after the failover";
  const auto rows = journal_of(postgres, database);
  expect_pacing_budget_and_journal(answers, rows, k_max_concurrency, k_interval, k_daily_limit);
  int checked = 0;
  const auto early = check_takeover_margin(answers, rows, {{1, cut_at, steady_time::max()}},
                                           k_max_concurrency, k_interval, checked);
  EXPECT_TRUE(early.empty()) << lines(early);
  // Rows due while it was frozen and before the other took over: grants it held, never sent.
  std::cout << "grants the frozen queue held (journaled, not sent): "
            << std::count_if(rows.begin(), rows.end(),
                             [&](const journal_row& row) {
                               return row.released_at > frozen_unix_ms &&
                                      row.released_at <= taken_unix_ms;
                             })
            << "\n";

  // And the resumed one, once the other dies, takes over through the restored path and
  // continues the daily count: the budget is used up.
  b->kill9();
  ASSERT_TRUE(wait_for_active({a->port()}, 2s)) << a->output();
  EXPECT_EQ(http_get(a->port(), "/?shard=0").status, 429);
}

// At least 50 failovers in a row, at random points of a continuous drain: three queues, each on
// its own proxied path to the database; each round kills the active (mostly kill -9, some
// SIGTERM, some SIGSTOP and a cut of its path), waits for a standby to take over, and brings the
// old one back as a standby (a restart, or for the frozen one SIGCONT and the path restored).
// Over the whole run: no interval violation at the clients, each takeover's first grant in a
// bucket the interval plus k_recovery_margin after the last journaled one, no budget violation
// (the budget runs out during the run, so later takeovers must continue the count), every 200
// journaled, a resumed queue sending only grants it had journaled and no later than
// k_recovery_margin after due (the freeze here is short, so some are still on time), every
// takeover within 2 s. GQ_FAILOVER_SEED=<n> replays a run.
TEST(failover, fifty_random_failovers_keep_spacing_and_budget) {
  constexpr int k_failovers = 50;
  constexpr int k_queues = 3;
  constexpr auto k_interval = 200ms;
  constexpr int k_max_concurrency = 3;
  constexpr int k_shards = 12;
  constexpr int k_daily_limit = 200;
  unsigned seed = std::random_device{}();
  if (const char* fixed = std::getenv("GQ_FAILOVER_SEED")) seed = std::strtoul(fixed, nullptr, 10);
  std::cout << "GQ_FAILOVER_SEED=" << seed << "\n";
  SCOPED_TRACE("GQ_FAILOVER_SEED=" + std::to_string(seed));
  std::mt19937 random(seed);

  postgres_server& postgres = postgres_server::shared();
  const std::string database = postgres.create_database();
  std::vector<std::unique_ptr<tcp_proxy>> proxies;
  shard_clients clients(k_shards, k_queues, shard_clients::mode::continuous, 0);  // outlives them
  std::vector<std::unique_ptr<server_process>> queues;
  for (int slot = 0; slot < k_queues; ++slot) {
    proxies.push_back(std::make_unique<tcp_proxy>(static_cast<std::uint16_t>(postgres.port())));
    queues.push_back(queue_on(proxied_uri(*proxies.back(), database), k_interval, k_max_concurrency,
                              k_daily_limit));
  }
  const auto ports = [&] {
    std::vector<std::uint16_t> result;
    for (auto& queue : queues) result.push_back(queue->running() ? queue->port() : 0);
    return result;
  };
  for (int slot = 0; slot < k_queues; ++slot) {
    ASSERT_TRUE(queues[slot]->start());
    if (slot == 0) {
      ASSERT_TRUE(wait_for_active({queues[0]->port()}, 10s)) << queues[0]->output();
    }
    clients.set_port(slot, queues[slot]->port());
  }
  clients.start();

  struct fence_window {
    int slot;
    steady_time from;
    steady_time until;
  };
  std::vector<fence_window> fenced;
  std::vector<double> takeovers;
  std::vector<std::string> slow;
  std::vector<resume_notice> notices;
  std::vector<active_term_window> terms;  // of the queues that took over
  int active = 0;
  std::uniform_int_distribution<int> drain_ms(200, 900);
  std::uniform_int_distribution<int> action(0, 99);
  for (int round = 0; round < k_failovers; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // A random point of the drain to strike at (no verdict depends on this wait).
    std::this_thread::sleep_for(std::chrono::milliseconds(drain_ms(random)));
    server_process& victim = *queues[active];
    const int roll = action(random);
    const char* how = roll < 70 ? "kill -9" : roll < 85 ? "SIGTERM" : "SIGSTOP and cut";
    steady_time from{};
    if (roll < 70) {
      from = std::chrono::steady_clock::now();
      victim.kill9();
    } else if (roll < 85) {
      from = std::chrono::steady_clock::now();
      victim.terminate();
    } else {
      ASSERT_EQ(::kill(victim.pid(), SIGSTOP), 0);
      // Frozen with its session alive: no standby may take over.
      for (int slot = 0; slot < k_queues; ++slot) {
        if (slot != active) {
          EXPECT_EQ(probe_status(queues[slot]->port(), "/ready"), 503) << "slot " << slot;
        }
      }
      from = std::chrono::steady_clock::now();
      proxies[active]->cut();
    }
    clients.set_port(active, 0);
    if (!fenced.empty() && fenced.back().until == steady_time{}) fenced.back().until = from;
    std::vector<std::uint16_t> standbys = ports();
    standbys[static_cast<std::size_t>(active)] = 0;
    const auto taken = wait_for_active(standbys, 10s);
    ASSERT_TRUE(taken) << how << ": no standby took over within 10 s";
    const double took = ms_since(from, taken->at);
    takeovers.push_back(took);
    if (took > ms_of(k_takeover_bound)) {
      slow.push_back("round " + std::to_string(round) + " (" + how + "): " + std::to_string(took) +
                     " ms");
    }
    const int previous = active;
    active = taken->slot;
    if (!terms.empty()) terms.back().until = from;
    terms.push_back({active, from, steady_time::max()});
    clients.prefer(active);

    // The old active back as a standby.
    if (roll < 70) {
      ASSERT_TRUE(victim.start());
    } else if (roll < 85) {
      EXPECT_TRUE(victim.wait(5s).exited_with(0)) << victim.output();
      ASSERT_TRUE(victim.start());
    } else {
      const auto resumed_at = std::chrono::steady_clock::now();
      ASSERT_EQ(::kill(victim.pid(), SIGCONT), 0);
      proxies[previous]->restore();
      fenced.push_back({previous, resumed_at, {}});
      const auto notice = watch_until_standby(victim.port(), resumed_at, 5s);
      notices.push_back(notice);
      EXPECT_GE(notice.first_standby_ms, 0) << victim.output();
      EXPECT_LE(notice.first_standby_ms, ms_of(k_resume_notice_bound)) << victim.output();
    }
    clients.set_port(previous, victim.port());
  }
  if (!fenced.empty() && fenced.back().until == steady_time{}) {
    fenced.back().until = std::chrono::steady_clock::now();
  }
  clients.stop();

  const auto answers = clients.answers();
  const auto rows = journal_of(postgres, database);
  std::vector<observed_answer> sent_after_resume;
  for (const auto& window : fenced) {
    for (const auto& answer : answers) {
      if (answer.status == 200 && answer.slot == window.slot && answer.at >= window.from &&
          answer.at < window.until) {
        sent_after_resume.push_back(answer);
      }
    }
  }
  int held_sent = 0;
  double held_latest_ms = 0;
  const auto late = check_sent_after_resume(sent_after_resume, rows, held_sent, held_latest_ms);
  EXPECT_TRUE(late.empty()) << "resumed queues sent 200s they may not:\n" << lines(late);
  EXPECT_TRUE(slow.empty()) << "takeovers over 2 s:\n" << lines(slow);
  EXPECT_GE(std::count_if(answers.begin(), answers.end(),
                          [](const auto& answer) { return answer.status == 429; }),
            1)
      << "the budget was never used up";
  expect_pacing_budget_and_journal(answers, rows, k_max_concurrency, k_interval, k_daily_limit);
  int checked = 0;
  const auto early =
      check_takeover_margin(answers, rows, terms, k_max_concurrency, k_interval, checked);
  EXPECT_TRUE(early.empty()) << lines(early);
  std::cout << "first grants after a takeover checked against the journal: " << checked << "\n";
  std::sort(takeovers.begin(), takeovers.end());
  std::cout << "failovers: " << takeovers.size() << ", takeover median "
            << static_cast<long long>(takeovers[takeovers.size() / 2]) << " ms, max "
            << static_cast<long long>(takeovers.back()) << " ms\n";
  double longest_ready = 0;
  int said_ready = 0;
  for (const auto& notice : notices) {
    if (notice.ready_answers > 0) ++said_ready;
    longest_ready = std::max(longest_ready, notice.last_ready_ms);
  }
  std::cout << "resumed after SIGSTOP and cut: " << notices.size() << ", of which " << said_ready
            << " still said /ready 200 after SIGCONT, the last " << longest_ready
            << " ms after it; grants held through the freeze and sent after SIGCONT: " << held_sent
            << ", at most " << held_latest_ms << " ms after due\n";
}

}  // namespace
}  // namespace gq::integration
