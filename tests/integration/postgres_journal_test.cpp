// The real binary on a PostgreSQL journal (QUEUE_DB=postgresql://...): grants are journaled
// before their 200, the interval holds across kill -9, the daily count continues, a server that
// goes away fails closed, `gateway-queue history` prints the grants, and the password appears
// nowhere in the output.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "support/postgres_server.hpp"

namespace gq::integration {
namespace {

using gq::testing::k_password;
using gq::testing::k_password_user;
using gq::testing::postgres_server;

std::string password_uri(const postgres_server& server, const std::string& database) {
  return "postgresql://" + std::string(k_password_user) + ":" + k_password +
         "@127.0.0.1:" + std::to_string(server.port()) + "/" + database;
}

TEST(postgres_journal, interval_holds_across_kill9_and_history_prints_the_grants) {
  postgres_server postgres;
  const std::string database = postgres.create_database(k_password_user);
  const std::string uri = password_uri(postgres, database);
  server_process server({{"QUEUE_DB", uri}, {"QUEUE_IDENTIFY_INTERVAL_MS", "2000"}});
  ASSERT_TRUE(server.start()) << server.output();
  std::vector<steady_time> granted;
  for (int i = 0; i < 3; ++i) {
    pending_request request(server.port(), "/?shard=0");
    ASSERT_EQ(request.status(), 200) << server.output();
    granted.push_back(request.arrived_at());
    // Committed before the 200 was sent.
    EXPECT_EQ(postgres.admin("SELECT count(*) FROM releases", database).at(0),
              std::to_string(i + 1));
  }
  server.kill9();
  ASSERT_TRUE(server.start()) << server.output();
  pending_request fourth(server.port(), "/?shard=7");
  ASSERT_EQ(fourth.status(), 200) << server.output();
  EXPECT_GE(ms_between_exact(granted.back(), fourth.arrived_at()), 2000.0);
  EXPECT_EQ(http_get(server.port(), "/history").json()["releases"].size(), 4u);

  const run_result history = run_to_exit({"history", "--shard", "0"}, {{"QUEUE_DB", uri}});
  ASSERT_TRUE(history.status.exited_with(0)) << history.status.describe() << history.err;
  const auto rows = nlohmann::json::parse(history.out)["releases"];
  ASSERT_EQ(rows.size(), 3u) << history.out;
  EXPECT_EQ(rows[0]["shard"], 0);

  const std::string location = "postgresql://" + std::string(k_password_user) +
                               "@127.0.0.1:" + std::to_string(postgres.port()) + "/" + database;
  EXPECT_NE(server.output().find(location), std::string::npos) << server.output();
  EXPECT_EQ(server.output().find(k_password), std::string::npos) << server.output();
  EXPECT_EQ(history.err.find(k_password), std::string::npos) << history.err;
}

// Polls GET /ready every 10 ms until it answers `status` or `timeout` passes.
bool ready_becomes(const server_process& queue, int status, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    if (http_get(queue.port(), "/ready").status == status) return true;
    std::this_thread::sleep_for(10ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// A database restart ends the queue's session, and the journal's lock with it: the queue fails
// closed (503), stands by, and once it holds the lock again it re-reads the journal and grants.
TEST(postgres_journal, lost_database_server_fails_closed_and_the_queue_recovers) {
  postgres_server postgres;
  const std::string database = postgres.create_database();
  server_process server(
      {{"QUEUE_DB", postgres.uri(database)}, {"QUEUE_IDENTIFY_INTERVAL_MS", "100"}});
  ASSERT_TRUE(server.start()) << server.output();
  ASSERT_EQ(http_get(server.port(), "/?shard=0").status, 200) << server.output();
  postgres.stop();
  const auto refused = http_get(server.port(), "/?shard=1");
  EXPECT_EQ(refused.status, 503) << refused.body << refused.error;
  EXPECT_TRUE(ready_becomes(server, 503, 2s)) << "a queue without its journal takes no waiters";
  postgres.start();
  EXPECT_TRUE(ready_becomes(server, 200, 10s)) << server.output();
  const auto again = http_get(server.port(), "/?shard=2");
  EXPECT_EQ(again.status, 200) << again.body << server.output();
  EXPECT_EQ(
      postgres.admin("SELECT string_agg(shard::text, ',' ORDER BY id) FROM releases", database)
          .at(0),
      "0,2");
}

// One active queue per database: a second gateway-queue on the journal of a running one is a
// standby (healthy, not ready, refusing waiters with 503 and Retry-After: 1, writing nothing);
// once the first is gone it takes over, resuming the bucket an interval after its last grant.
TEST(postgres_journal, second_queue_on_the_same_database_stands_by_until_the_first_is_gone) {
  postgres_server postgres;
  const std::string database = postgres.create_database();
  const std::string uri = postgres.uri(database);
  server_process first({{"QUEUE_DB", uri}, {"QUEUE_IDENTIFY_INTERVAL_MS", "1000"}});
  ASSERT_TRUE(first.start()) << first.output();
  const http_reply granted = http_get(first.port(), "/?shard=0");
  ASSERT_EQ(granted.status, 200) << first.output();
  EXPECT_EQ(http_get(first.port(), "/ready").status, 200);

  server_process second({{"QUEUE_DB", uri}, {"QUEUE_IDENTIFY_INTERVAL_MS", "1000"}});
  ASSERT_TRUE(second.start()) << second.output();
  EXPECT_EQ(http_get(second.port(), "/health").status, 200);
  const http_reply ready = http_get(second.port(), "/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.json().value("status", ""), "standby") << ready.body;
  const http_reply refused = http_get(second.port(), "/?shard=1");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.header("Retry-After"), "1");
  EXPECT_NE(refused.body.find("standby"), std::string::npos) << refused.body;
  const http_reply status = http_get(second.port(), "/status");
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(status.json().value("active", true), false) << status.body;
  EXPECT_NE(http_get(second.port(), "/metrics").body.find("gateway_queue_active 0"),
            std::string::npos);
  EXPECT_EQ(postgres.admin("SELECT count(*) FROM releases", database).at(0), "1");

  first.kill9();  // the database ends its session, and with it the lock
  EXPECT_TRUE(ready_becomes(second, 200, 2s)) << second.output();
  const http_reply next = http_get(second.port(), "/?shard=0");
  ASSERT_EQ(next.status, 200) << second.output();
  EXPECT_GE(next.at - granted.at, 1000ms) << "the bucket resumed an interval after its last grant";
  EXPECT_EQ(postgres.admin("SELECT count(*) FROM releases", database).at(0), "2");
}

// A waiter of a queue that loses its journal is answered at once (503, Retry-After: 1: ask
// again, maybe another queue), not left waiting for a grant this queue can no longer make.
TEST(postgres_journal, waiters_of_a_queue_that_loses_its_journal_are_answered_503) {
  postgres_server postgres;
  const std::string database = postgres.create_database();
  server_process server(
      {{"QUEUE_DB", postgres.uri(database)}, {"QUEUE_IDENTIFY_INTERVAL_MS", "60000"}});
  ASSERT_TRUE(server.start()) << server.output();
  ASSERT_EQ(http_get(server.port(), "/?shard=0").status, 200) << server.output();
  auto waiter =
      std::async(std::launch::async, [&] { return http_get(server.port(), "/?shard=1"); });
  ASSERT_TRUE(wait_for_waiting(server.port(), 1));
  postgres.stop();
  ASSERT_EQ(waiter.wait_for(5s), std::future_status::ready) << server.output();
  const http_reply answered = waiter.get();
  EXPECT_EQ(answered.status, 503) << answered.body;
  EXPECT_EQ(answered.header("Retry-After"), "1");
  EXPECT_NE(answered.body.find("standby"), std::string::npos) << answered.body;
}

// Where a standby may take over, a grant that could not leave within k_recovery_margin of its
// due instant (the process was stopped meanwhile) is not written: the queue that took over may
// already be pacing from that grant's journaled instant. Its waiter gets 503 and asks again.
TEST(postgres_journal, a_grant_held_through_a_stall_is_not_written_late) {
  postgres_server postgres;
  const std::string database = postgres.create_database();
  server_process server(
      {{"QUEUE_DB", postgres.uri(database)}, {"QUEUE_IDENTIFY_INTERVAL_MS", "2000"}});
  ASSERT_TRUE(server.start()) << server.output();
  ASSERT_EQ(http_get(server.port(), "/?shard=0").status, 200) << server.output();
  auto waiter =
      std::async(std::launch::async, [&] { return http_get(server.port(), "/?shard=1"); });
  // Its grant is journaled k_permit_lead (100 ms) before it is due: stop the process then.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (postgres.admin("SELECT count(*) FROM releases", database).at(0) != "2") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << server.output();
  }
  ::kill(server.pid(), SIGSTOP);
  const auto released_at =
      std::stoll(postgres.admin("SELECT max(released_at) FROM releases", database).at(0));
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::this_thread::sleep_for(std::chrono::milliseconds(
      std::max<long long>(0, released_at - now_ms + 300)));  // well past due + k_recovery_margin
  ::kill(server.pid(), SIGCONT);
  ASSERT_EQ(waiter.wait_for(5s), std::future_status::ready) << server.output();
  const http_reply answered = waiter.get();
  EXPECT_EQ(answered.status, 503) << answered.body;
  EXPECT_EQ(answered.header("Retry-After"), "1");
  EXPECT_NE(http_get(server.port(), "/metrics")
                .body.find("gateway_queue_rejections_total{reason=\"late\"} 1"),
            std::string::npos);
}

TEST(postgres_journal, unreachable_database_server_exits_1_naming_it) {
  const std::string uri = "postgresql://gq:Not-shown-41@127.0.0.1:" +
                          std::to_string(gq::testing::free_loopback_port()) + "/gq";
  const run_result result = run_to_exit({}, {{"QUEUE_DB", uri}});
  EXPECT_TRUE(result.status.exited_with(1)) << result.status.describe();
  const std::string output = result.out + result.err;
  EXPECT_NE(output.find("postgresql://gq@127.0.0.1"), std::string::npos) << output;
  EXPECT_EQ(output.find("Not-shown-41"), std::string::npos) << output;
}

}  // namespace
}  // namespace gq::integration
