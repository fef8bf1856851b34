// Past the gate through the real binary: POST /outcome's answers, the loop guard's 429, the
// reserve's 429 for boots, and that the loop guard and a widened bucket survive kill -9 (SQLite)
// and a standby taking over (PostgreSQL): both are read back from the journal.

#include <gtest/gtest.h>

#include <string>

#include "integration/clients.hpp"
#include "integration/discord_support.hpp"
#include "integration/failover_support.hpp"
#include "integration/server_process.hpp"
#include "support/postgres_server.hpp"

namespace gq::integration {
namespace {

using failover::wait_for_active;
using gq::testing::postgres_server;

http_reply post(std::uint16_t port, const std::string& target) {
  return http_request(port, "POST", target);
}

TEST(past_the_gate, outcome_is_answered_204_409_400_or_405_and_shown_in_history_and_metrics) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  EXPECT_EQ(post(server.port(), "/outcome?shard=3&result=ready").status, 409)
      << "no grant of shard 3 yet";
  ASSERT_EQ(http_get(server.port(), "/?shard=3").status, 200);
  const auto accepted = post(server.port(), "/outcome?shard=3&result=closed&code=4004");
  EXPECT_EQ(accepted.status, 204) << accepted.body;
  EXPECT_TRUE(accepted.body.empty());
  EXPECT_EQ(post(server.port(), "/outcome?shard=3&result=done").status, 400);
  EXPECT_EQ(post(server.port(), "/outcome?result=ready").status, 400);
  const auto wrong_method = http_get(server.port(), "/outcome?shard=3&result=ready");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("Allow"), "POST");

  const auto row = http_get(server.port(), "/history?shard=3").json()["releases"][0];
  EXPECT_EQ(row["outcome"], "closed") << row.dump();
  EXPECT_EQ(row["outcome_code"], 4004);
  EXPECT_GE(row["outcome_ms"].get<long long>(), 0);
  EXPECT_NE(http_get(server.port(), "/metrics")
                .body.find("gateway_queue_outcomes_total{result=\"closed\"} 1\n"),
            std::string::npos);
}

TEST(past_the_gate, a_boot_is_refused_from_the_reserve_under_reject_and_a_reconnect_is_not) {
  server_process server({{"QUEUE_DAILY_LIMIT", "3"},
                         {"QUEUE_RESERVE", "2"},
                         {"QUEUE_ON_EXHAUSTED", "reject"},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  EXPECT_EQ(http_get(server.port(), "/?shard=0&initial=true").status, 200);
  const auto boot = http_get(server.port(), "/?shard=1&initial=true");
  EXPECT_EQ(boot.status, 429) << boot.body;
  EXPECT_NE(boot.json()["error"].get<std::string>().find("kept for reconnects"), std::string::npos);
  EXPECT_TRUE(boot.has_header("Retry-After"));
  EXPECT_EQ(http_get(server.port(), "/?shard=1").status, 200) << "a reconnect spends the reserve";
  EXPECT_EQ(http_get(server.port(), "/?shard=2&initial=maybe").status, 400);
  EXPECT_EQ(http_get(server.port(), "/status").json()["reserve"], 2);
}

// Grants shard 3 up to the loop guard's limit of 2 and reports an early Invalid Session, which
// widens bucket 0 from 200 ms to 500 ms.
void loop_and_widen(std::uint16_t port) {
  ASSERT_EQ(http_get(port, "/?shard=3").status, 200);
  ASSERT_EQ(http_get(port, "/?shard=3").status, 200);
  ASSERT_EQ(post(port, "/outcome?shard=3&result=invalid_session").status, 204);
  ASSERT_EQ(http_get(port, "/status").json()["buckets"][0]["interval_ms"], 500);
  const auto refused = http_get(port, "/?shard=3");
  ASSERT_EQ(refused.status, 429) << refused.body;
}

// What a queue that read the journal of `loop_and_widen` must still know. The ledger reads the
// last hour's grants once the journal's deferred check has passed (it holds grants until then),
// which on PostgreSQL may be after /ready says active.
void expect_guard_and_widening_kept(std::uint16_t port, const std::string& output) {
  ASSERT_TRUE(discord_support::eventually(
      [&] { return http_get(port, "/status").json()["looping"].size() == 1; }, 10s))
      << http_get(port, "/status").body << output;
  const auto status = http_get(port, "/status").json();
  EXPECT_EQ(status["buckets"][0]["interval_ms"], 500) << status.dump() << output;
  ASSERT_EQ(status["looping"].size(), 1u) << status.dump();
  EXPECT_EQ(status["looping"][0]["shard"], 3);
  const auto refused = http_get(port, "/?shard=3");
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(refused.json()["error"].get<std::string>().rfind("shard 3 is looping: ", 0), 0u)
      << refused.body;
  EXPECT_GT(std::stoll(refused.header("Retry-After")), 3500)
      << "until the first grant is an hour old";
  EXPECT_EQ(http_get(port, "/?shard=4").status, 200) << "other shards are not guarded";
}

const std::initializer_list<env_map::value_type> k_guarded{{"QUEUE_SHARD_HOURLY_LIMIT", "2"},
                                                           {"QUEUE_IDENTIFY_INTERVAL_MS", "200"},
                                                           {"QUEUE_WIDEN_STEP_MS", "300"},
                                                           {"QUEUE_WIDEN_MAX_MS", "600"}};

TEST(past_the_gate, loop_guard_and_widening_survive_kill9) {
  server_process server(k_guarded);
  ASSERT_TRUE(server.start());
  loop_and_widen(server.port());
  server.kill9();
  ASSERT_TRUE(server.start());
  expect_guard_and_widening_kept(server.port(), server.output());
}

TEST(past_the_gate, loop_guard_and_widening_survive_a_standby_taking_over) {
  postgres_server& postgres = postgres_server::shared();
  const std::string uri = postgres.uri(postgres.create_database());
  server_process active(k_guarded);
  server_process standby(k_guarded);
  for (auto* server : {&active, &standby}) {
    server->set_env("QUEUE_DB", uri);
    ASSERT_TRUE(server->start());
    ASSERT_TRUE(wait_for_active({active.port()}, 10s)) << active.output();
  }
  loop_and_widen(active.port());
  active.kill9();
  ASSERT_TRUE(wait_for_active({0, standby.port()}, 10s)) << standby.output();
  expect_guard_and_widening_kept(standby.port(), standby.output());
}

}  // namespace
}  // namespace gq::integration
