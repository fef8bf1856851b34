// The read-only endpoints through the real binary: /health, /status, /metrics and /history
// (with its filters). The contract: docs/HTTP_API.md.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/queue_api_checks.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

using namespace queue_api_checks;

// --- read-only endpoints ---------------------------------------------------------------------

TEST(queue_api, health_answers_status_ok) {
  server_process server;
  ASSERT_TRUE(server.start());
  auto reply = http_get(server.port(), "/health");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.json(), nlohmann::json({{"status", "ok"}})) << reply.body;
  EXPECT_EQ(reply.header("Content-Type").rfind("application/json", 0), 0u);
}

TEST(queue_api, status_reports_limits_buckets_and_waiters) {
  server_process server({{"QUEUE_MAX_CONCURRENCY", "2"},
                         {"QUEUE_DAILY_LIMIT", "50"},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "10000"}});
  ASSERT_TRUE(server.start());
  const std::int64_t before_grant = unix_ms_now();
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=1")));
  const std::int64_t after_grant = unix_ms_now();
  pending_request waiter(server.port(), "/?shard=3");  // bucket 1, held for 10 s
  ASSERT_TRUE(wait_for_waiting(server.port(), 1)) << server.output();

  auto reply = http_get(server.port(), "/status");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("Content-Type").rfind("application/json", 0), 0u);
  auto status = reply.json();
  ASSERT_TRUE(status.is_object()) << reply.body;
  EXPECT_EQ(status.value("max_concurrency", -1), 2) << reply.body;
  EXPECT_EQ(status.value("total", -1), 50) << reply.body;
  EXPECT_EQ(status.value("remaining", -1), 49) << reply.body;
  ASSERT_TRUE(status["reset_at"].is_number_integer()) << reply.body;
  EXPECT_GT(status["reset_at"].get<std::int64_t>(), after_grant);
  EXPECT_EQ(status.value("waiting", -1), 1) << reply.body;
  EXPECT_EQ(status.value("limits_source", ""), "config") << reply.body;
  ASSERT_TRUE(status.contains("last_refresh")) << reply.body;
  EXPECT_TRUE(status["last_refresh"].is_null() || status["last_refresh"].is_number_integer());

  ASSERT_TRUE(status["buckets"].is_array()) << reply.body;
  ASSERT_EQ(status["buckets"].size(), 2u) << reply.body;
  for (const auto& bucket : status["buckets"]) {
    ASSERT_TRUE(bucket.contains("bucket") && bucket.contains("waiting") &&
                bucket.contains("next_grant_at"))
        << bucket.dump();
    if (bucket["bucket"] == 0) {
      EXPECT_EQ(bucket["waiting"], 0) << bucket.dump();
    } else {
      EXPECT_EQ(bucket["bucket"], 1) << bucket.dump();
      EXPECT_EQ(bucket["waiting"], 1) << bucket.dump();
      ASSERT_TRUE(bucket["next_grant_at"].is_number_integer()) << bucket.dump();
      const auto next = bucket["next_grant_at"].get<std::int64_t>();
      EXPECT_GE(next, before_grant + 10000 - 1) << bucket.dump();
      // One interval after the grant the server decided (its exact value on a fake clock:
      // bucket_flow.status_reports_waiting_and_next_grant_per_bucket), not two.
      const auto grants = journaled_grants(server.port());
      ASSERT_EQ(grants.size(), 1u);
      EXPECT_GE(next, grants[0].released_at + 10000) << bucket.dump();
      EXPECT_LT(next, grants[0].released_at + 20000) << bucket.dump();
    }
  }
}

TEST(queue_api, metrics_expose_prometheus_text_with_the_required_series) {
  server_process server({{"QUEUE_MAX_CONCURRENCY", "2"},
                         {"QUEUE_DAILY_LIMIT", "50"},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=1")));

  auto reply = http_get(server.port(), "/metrics");
  ASSERT_EQ(reply.status, 200);
  const std::string type = reply.header("Content-Type");
  EXPECT_EQ(type.rfind("text/plain", 0), 0u) << type;
  EXPECT_NE(type.find("version=0.0.4"), std::string::npos) << type;
  const std::string& text = reply.body;
  EXPECT_EQ(metric_sum(text, "gateway_queue_waiting"), 0.0) << text;
  EXPECT_EQ(metric_sum(text, "gateway_queue_grants_total"), 2.0) << text;
  EXPECT_EQ(metric_sum(text, "gateway_queue_remaining_sessions"), 48.0) << text;
  EXPECT_EQ(metric_sum(text, "gateway_queue_max_concurrency"), 2.0) << text;
  EXPECT_EQ(metric_sum(text, "gateway_queue_wait_seconds_count"), 2.0) << text;
  EXPECT_TRUE(metric_sum(text, "gateway_queue_wait_seconds_sum").has_value()) << text;
  EXPECT_NE(text.find("gateway_queue_wait_seconds_bucket{bot=\"default\",le=\"+Inf\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE gateway_queue_wait_seconds histogram"), std::string::npos) << text;
}

TEST(queue_api, history_lists_grants_newest_first_and_filters) {
  server_process server({{"QUEUE_MAX_CONCURRENCY", "4"}, {"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  for (const char* target : {"/?shard=0", "/?shard=1", "/?shard=2", "/"}) {
    ASSERT_TRUE(is_granted(http_get(server.port(), target))) << target;
  }

  auto all = http_get(server.port(), "/history");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.header("Content-Type").rfind("application/json", 0), 0u);
  auto releases = all.json()["releases"];
  ASSERT_TRUE(releases.is_array()) << all.body;
  ASSERT_EQ(releases.size(), 4u) << all.body;
  const std::vector<nlohmann::json> expected_shards = {nullptr, 2, 1, 0};
  for (std::size_t i = 0; i < releases.size(); ++i) {
    const auto& row = releases[i];
    EXPECT_EQ(row["shard"], expected_shards[i]) << all.body;
    EXPECT_TRUE(row["released_at"].is_number_integer()) << row.dump();
    EXPECT_TRUE(row["waited_ms"].is_number_integer()) << row.dump();
    EXPECT_EQ(row["bucket"], row["shard"].is_null() ? 0 : row["shard"].get<int>() % 4);
    if (i > 0) {
      EXPECT_LE(row["released_at"], releases[i - 1]["released_at"]) << all.body;
    }
  }

  auto one_shard = http_get(server.port(), "/history?shard=1").json()["releases"];
  ASSERT_EQ(one_shard.size(), 1u) << one_shard.dump();
  EXPECT_EQ(one_shard[0]["shard"], 1);
  EXPECT_EQ(one_shard[0]["bucket"], 1);

  auto newest_two = http_get(server.port(), "/history?limit=2").json()["releases"];
  ASSERT_EQ(newest_two.size(), 2u) << newest_two.dump();
  EXPECT_EQ(newest_two[0]["shard"], nullptr);
  EXPECT_EQ(newest_two[1]["shard"], 2);

  const std::string future = std::to_string(unix_ms_now() + 3'600'000);
  EXPECT_EQ(http_get(server.port(), "/history?since=" + future).json()["releases"].size(), 0u);
  EXPECT_EQ(http_get(server.port(), "/history?until=0").json()["releases"].size(), 0u);
  EXPECT_EQ(http_get(server.port(), "/history?limit=10000&unknown=1").json()["releases"].size(),
            4u);
}

TEST(queue_api, history_refuses_malformed_filters_with_400) {
  server_process server;
  ASSERT_TRUE(server.start());
  for (const char* query :
       {"shard=abc", "shard=-1", "limit=0", "limit=10001", "limit=x", "since=-1", "until=abc",
        "since=2000&until=1000", "limit=1&limit=2", "since=99999999999999999999"}) {
    auto reply = http_get(server.port(), std::string("/history?") + query);
    EXPECT_EQ(reply.status, 400) << query << ": " << reply.body;
    EXPECT_TRUE(is_error_json(reply.json())) << query << ": " << reply.body;
  }
}

}  // namespace
}  // namespace gq::integration
