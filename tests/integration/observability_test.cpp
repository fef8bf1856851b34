// What operators watch, through the real binary: /metrics counters after real traffic, /ready,
// and /status's `auth`. (promtool's check of the same text: tests/tools/promtool_metrics_test.py.)

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

const std::string k_token = "observability-token-7f3e";
const httplib::Headers k_auth = {{"Authorization", "Bearer " + k_token}};

// The value of one series (name with labels, exactly as printed); nullopt when absent.
std::optional<double> series(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::strtod(line.c_str() + name.size() + 1, nullptr);
  }
  return std::nullopt;
}

std::string rejections(const char* reason) {
  return std::string("gateway_queue_rejections_total{reason=\"") + reason + "\"}";
}

TEST(observability, metrics_count_grants_rejections_and_hangups_of_real_traffic) {
  server_process server({{"QUEUE_AUTH_TOKEN", k_token},
                         {"QUEUE_DAILY_LIMIT", "3"},
                         {"QUEUE_ON_EXHAUSTED", "reject"},
                         {"QUEUE_MAX_WAITING", "1"},
                         {"QUEUE_MAX_CONCURRENCY", "4"},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "60000"}});
  ASSERT_TRUE(server.start());
  const auto before = unix_ms_now();
  for (const char* target : {"/?shard=0", "/?shard=1", "/?shard=2"})
    ASSERT_EQ(http_get(server.port(), target, k_auth).status, 200) << target;
  // The budget is used up; bucket 3 is idle, so its permit is refused at once.
  EXPECT_EQ(http_get(server.port(), "/?shard=3", k_auth).status, 429);
  EXPECT_EQ(http_get(server.port(), "/?shard=-1", k_auth).status, 400);
  EXPECT_EQ(http_get(server.port(), "/history?limit=0", k_auth).status, 400);
  EXPECT_EQ(http_get(server.port(), "/status").status, 401);
  EXPECT_EQ(http_get(server.port(), "/?shard=0", {{"Authorization", "Bearer wrong"}}).status, 401);
  // Bucket 0 waits 60 s now: one waiter fills the queue, the next is refused, then it leaves.
  auto waiter = std::make_unique<raw_connection>(server.port());
  ASSERT_TRUE(
      waiter->send_all(request_text("/?shard=4", "Authorization: Bearer " + k_token + "\r\n")));
  ASSERT_TRUE(wait_for_waiting(server.port(), 1, 5s, k_auth)) << server.output();
  EXPECT_EQ(http_get(server.port(), "/?shard=8", k_auth).status, 503);
  waiter.reset();
  ASSERT_TRUE(wait_for_waiting(server.port(), 0, 5s, k_auth)) << server.output();

  const auto reply = http_get(server.port(), "/metrics", k_auth);
  ASSERT_EQ(reply.status, 200);
  const auto& text = reply.body;
  EXPECT_EQ(series(text, "gateway_queue_grants_total{bot=\"default\"}"), 3.0) << text;
  EXPECT_EQ(series(text, "gateway_queue_hangups_total"), 1.0) << text;
  EXPECT_EQ(series(text, rejections("exhausted")), 1.0) << text;
  EXPECT_EQ(series(text, rejections("bad_request")), 2.0) << text;
  EXPECT_EQ(series(text, rejections("auth")), 2.0) << text;
  EXPECT_EQ(series(text, rejections("full")), 1.0) << text;
  EXPECT_EQ(series(text, "gateway_queue_rejected_full_total"), 1.0) << text;
  EXPECT_EQ(series(text, rejections("journal")), 0.0) << text;
  EXPECT_EQ(series(text, rejections("shutdown")), 0.0) << text;
  EXPECT_EQ(series(text, "gateway_queue_remaining_sessions{bot=\"default\"}"), 0.0) << text;
  EXPECT_EQ(series(text, "gateway_queue_identify_interval_seconds{bot=\"default\"}"), 60.0) << text;
  EXPECT_EQ(series(text, "gateway_queue_auth_required"), 1.0) << text;
  EXPECT_EQ(series(text, "gateway_queue_discord_up{bot=\"default\"}"), 1.0)
      << "limits from the configuration";
  // Journal transactions: the configured limits at start, then each grant (at least one each).
  EXPECT_GE(series(text, "gateway_queue_journal_commit_seconds_count").value_or(0), 4.0) << text;
  const auto last_grant =
      series(text, "gateway_queue_last_grant_timestamp_seconds{bot=\"default\"}").value_or(0);
  EXPECT_GE(last_grant * 1000, static_cast<double>(before)) << text;
  const auto grants = journaled_grants(server.port(), k_auth);
  ASSERT_EQ(grants.size(), 3u);
  EXPECT_EQ(std::llround(last_grant * 1000), grants.back().released_at)
      << "the metric is the newest grant's journaled instant\n"
      << text;
  const auto reset_at =
      series(text, "gateway_queue_reset_timestamp_seconds{bot=\"default\"}").value_or(0);
  const auto reset_in = series(text, "gateway_queue_reset_seconds{bot=\"default\"}").value_or(-1);
  EXPECT_NEAR(reset_at - reset_in, static_cast<double>(unix_ms_now()) / 1000, 5.0) << text;
  const auto status = http_get(server.port(), "/status", k_auth).json();
  EXPECT_EQ(static_cast<std::int64_t>(std::llround(reset_at * 1000)), status["reset_at"])
      << "the metric is the exact reset time";
  EXPECT_NE(text.find("gateway_queue_build_info{version=\""), std::string::npos) << text;
  EXPECT_EQ(text.find(k_token), std::string::npos) << "the token leaked into /metrics";
}

TEST(observability, ready_and_health_answer_without_a_token_and_status_says_auth_is_on) {
  server_process server({{"QUEUE_AUTH_TOKEN", k_token}});
  ASSERT_TRUE(server.start());
  const auto ready = http_get(server.port(), "/ready");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.json(), nlohmann::json({{"status", "ready"}}));
  EXPECT_EQ(http_get(server.port(), "/health").status, 200);
  EXPECT_EQ(http_get(server.port(), "/status").status, 401);
  const auto status = http_get(server.port(), "/status", k_auth).json();
  EXPECT_EQ(status["auth"], true) << status.dump();
}

TEST(observability, status_says_auth_is_off_without_a_token) {
  server_process server;
  ASSERT_TRUE(server.start());
  const auto status = http_get(server.port(), "/status").json();
  EXPECT_EQ(status["auth"], false) << status.dump();
  EXPECT_EQ(http_get(server.port(), "/ready").status, 200);
  const auto metrics = http_get(server.port(), "/metrics").body;
  EXPECT_EQ(series(metrics, "gateway_queue_auth_required"), 0.0) << metrics;
}

}  // namespace
}  // namespace gq::integration
