// Auth and capacity through the real binary: the auth token, max waiting and the exhausted
// daily limit under both policies. The contract: docs/HTTP_API.md.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/queue_api_checks.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

using namespace queue_api_checks;

// --- auth and capacity -----------------------------------------------------------------------

TEST(queue_api, auth_token_guards_every_path_except_health) {
  const std::string token = "s3cret-token-4b1d";
  server_process server({{"QUEUE_AUTH_TOKEN", token}, {"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  const httplib::Headers good = {{"Authorization", "Bearer " + token}};

  for (const char* target : {"/?shard=0", "/status", "/metrics", "/history"}) {
    for (const httplib::Headers& bad :
         {httplib::Headers{}, httplib::Headers{{"Authorization", "Bearer wrong"}},
          httplib::Headers{{"Authorization", token}},
          httplib::Headers{{"Authorization", "Basic " + token}}}) {
      auto reply = http_get(server.port(), target, bad);
      EXPECT_EQ(reply.status, 401) << target << ": " << reply.body;
      EXPECT_TRUE(is_error_json(reply.json())) << target << ": " << reply.body;
    }
  }
  EXPECT_EQ(http_get(server.port(), "/health").status, 200);
  EXPECT_TRUE(is_granted(http_get(server.port(), "/?shard=0", good)));
  auto status = http_get(server.port(), "/status", good);
  EXPECT_EQ(status.status, 200);
  auto metrics = http_get(server.port(), "/metrics", good);
  EXPECT_EQ(metrics.status, 200);
  auto history = http_get(server.port(), "/history", good);
  EXPECT_EQ(history.status, 200);
  // Refused requests were neither granted nor journaled.
  EXPECT_EQ(history.json()["releases"].size(), 1u) << history.body;

  EXPECT_EQ(status.body.find(token), std::string::npos);
  EXPECT_EQ(metrics.body.find(token), std::string::npos);
  server.stop();
  EXPECT_EQ(server.output().find(token), std::string::npos) << "the token leaked into the log";
}

TEST(queue_api, waiter_beyond_max_waiting_gets_503_with_retry_after) {
  server_process server({{"QUEUE_MAX_WAITING", "2"}, {"QUEUE_IDENTIFY_INTERVAL_MS", "10000"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));
  pending_request first_waiter(server.port(), "/?shard=0");
  pending_request second_waiter(server.port(), "/?shard=0");
  ASSERT_TRUE(wait_for_waiting(server.port(), 2)) << server.output();

  auto third = http_get(server.port(), "/?shard=0");
  EXPECT_EQ(third.status, 503) << third.body << third.error;
  EXPECT_TRUE(is_whole_seconds(third.header("Retry-After"))) << third.header("Retry-After");
  EXPECT_TRUE(is_error_json(third.json())) << third.body;
  EXPECT_FALSE(first_waiter.done());
  EXPECT_FALSE(second_waiter.done());
  EXPECT_EQ(waiting_count(server.port()), 2);
}

TEST(queue_api, exhausted_daily_limit_answers_429_under_reject) {
  server_process server({{"QUEUE_DAILY_LIMIT", "2"},
                         {"QUEUE_ON_EXHAUSTED", "reject"},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  EXPECT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));
  EXPECT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));
  auto third = http_get(server.port(), "/?shard=0");
  EXPECT_EQ(third.status, 429) << third.body << third.error;
  const std::string retry_after = third.header("Retry-After");
  ASSERT_TRUE(is_whole_seconds(retry_after)) << retry_after;
  EXPECT_LE(std::stoll(retry_after), 86400);
  EXPECT_GT(std::stoll(retry_after), 0);
  EXPECT_TRUE(is_error_json(third.json())) << third.body;
  EXPECT_EQ(http_get(server.port(), "/history").json()["releases"].size(), 2u);
}

TEST(queue_api, exhausted_daily_limit_holds_waiters_under_hold) {
  server_process server({{"QUEUE_DAILY_LIMIT", "1"}, {"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  EXPECT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));
  pending_request held(server.port(), "/?shard=0");
  ASSERT_TRUE(wait_for_waiting(server.port(), 1)) << server.output();
  std::this_thread::sleep_for(1s);  // twenty intervals: only the budget can hold it
  EXPECT_FALSE(held.done());
  EXPECT_EQ(http_get(server.port(), "/history").json()["releases"].size(), 1u);
}

}  // namespace
}  // namespace gq::integration
