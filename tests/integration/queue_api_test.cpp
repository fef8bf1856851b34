// The core queue service through the real binary: pacing, the queue request's answers, the
// read-only endpoints, auth, capacity limits, shutdown and configuration errors.
// The contract: docs/HTTP_API.md.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

constexpr const char* k_granted_message = "You're free to connect now! :)";

bool is_granted(const http_reply& reply) {
  auto body = reply.json();
  return reply.status == 200 && body.is_object() && body.contains("message") &&
         body["message"] == k_granted_message;
}

bool is_error_json(const nlohmann::json& body) {
  return body.is_object() && body.contains("error") && body["error"].is_string() &&
         !body["error"].get<std::string>().empty();
}

bool is_whole_seconds(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; });
}

// Sum of the samples of `name` in Prometheus text (labels ignored); nullopt when absent.
std::optional<double> metric_sum(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  std::optional<double> sum;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    const std::string value = line.substr(line.find_last_of(' ') + 1);
    sum = sum.value_or(0) + std::strtod(value.c_str(), nullptr);
  }
  return sum;
}

// --- pacing ----------------------------------------------------------------------------------

TEST(queue_api, defaults_grant_two_shard0_requests_5000ms_apart) {
  server_process server;
  ASSERT_TRUE(server.start());
  auto requests = fire_concurrently(server.port(), {"/?shard=0", "/?shard=0"});
  auto times = grant_times(requests);
  ASSERT_EQ(times.size(), 2u) << server.output();
  std::sort(times.begin(), times.end());
  EXPECT_GE(ms_between_exact(times[0], times[1]), 5000.0);
  EXPECT_LT(ms_between_exact(times[0], times[1]), 5300.0);
}

TEST(queue_api, grants_in_one_bucket_are_never_closer_than_the_interval) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "400"}});
  ASSERT_TRUE(server.start());
  auto requests = fire_concurrently(server.port(), std::vector<std::string>(4, "/?shard=0"));
  auto times = grant_times(requests);
  ASSERT_EQ(times.size(), 4u) << server.output();
  std::sort(times.begin(), times.end());
  for (std::size_t i = 1; i < times.size(); ++i) {
    EXPECT_GE(ms_between_exact(times[i - 1], times[i]), 400.0)
        << "between grants " << i - 1 << " and " << i;
  }
  auto read_times = grant_read_times(requests);
  EXPECT_LT(ms_between_exact(requests.front()->sent_at(),
                             *std::max_element(read_times.begin(), read_times.end())),
            1600.0);
}

TEST(queue_api, different_buckets_are_granted_together) {
  server_process server({{"QUEUE_MAX_CONCURRENCY", "4"}});  // interval stays 5000 ms
  ASSERT_TRUE(server.start());
  auto requests =
      fire_concurrently(server.port(), {"/?shard=0", "/?shard=1", "/?shard=2", "/?shard=3"});
  auto times = grant_times(requests);
  ASSERT_EQ(times.size(), 4u) << server.output();
  std::sort(times.begin(), times.end());
  EXPECT_LT(ms_between_exact(times.front(), times.back()), 100.0);
  auto read_times = grant_read_times(requests);
  EXPECT_LT(ms_between_exact(requests.front()->sent_at(),
                             *std::max_element(read_times.begin(), read_times.end())),
            1000.0);
}

// --- the queue request -----------------------------------------------------------------------

TEST(queue_api, any_path_and_method_is_a_queue_request) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());

  auto post = http_request(server.port(), "POST", "/any/path?shard=0");
  EXPECT_TRUE(is_granted(post)) << post.status << " " << post.body;
  EXPECT_EQ(post.header("Content-Type").rfind("application/json", 0), 0u)
      << post.header("Content-Type");

  for (const char* target : {"/", "/status/?shard=1", "/?shard=007", "/gateway?shard=2&x=y"}) {
    auto reply = http_get(server.port(), target);
    EXPECT_TRUE(is_granted(reply)) << target << ": " << reply.status << " " << reply.body;
  }

  auto history = http_get(server.port(), "/history").json();
  ASSERT_TRUE(history.is_object() && history["releases"].is_array()) << history.dump();
  std::vector<std::string> shards;
  for (const auto& row : history["releases"]) shards.push_back(row["shard"].dump());
  EXPECT_EQ(shards, (std::vector<std::string>{"2", "7", "1", "null", "0"}));
}

TEST(queue_api, malformed_shard_is_refused_at_once_with_400) {
  // A busy bucket: a request wrongly taken as a waiter would not be answered for 10 s.
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "10000"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));

  const std::vector<std::string> queries = {
      "shard=abc", "shard=-1",  "shard=1.5",       "shard=" + std::string(24, '7'),
      "shard=",    "shard",     "shard=1&shard=2", "shard=9223372036854775808",
      "shard=+1",  "shard=0x1", "shard=1e3",       "shard=%201",
      "shard=%G1"};
  for (const auto& query : queries) {
    const auto before = std::chrono::steady_clock::now();
    auto reply = http_get(server.port(), "/?" + query);
    EXPECT_EQ(reply.status, 400) << query << ": " << reply.body << reply.error;
    EXPECT_TRUE(is_error_json(reply.json())) << query << ": " << reply.body;
    EXPECT_EQ(reply.header("Content-Type").rfind("application/json", 0), 0u) << query;
    EXPECT_LT(ms_between(before, reply.at), 1000) << query;
  }
  EXPECT_EQ(waiting_count(server.port()), 0);
}

TEST(queue_api, largest_shard_and_a_repeated_equal_shard_are_accepted) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  auto largest = http_get(server.port(), "/?shard=9223372036854775807");
  EXPECT_TRUE(is_granted(largest)) << largest.status << " " << largest.body;
  auto repeated = http_get(server.port(), "/?shard=3&shard=3");
  EXPECT_TRUE(is_granted(repeated)) << repeated.status << " " << repeated.body;
}

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
      EXPECT_LE(next, after_grant + 10000 + 100) << bucket.dump();
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
  EXPECT_NE(text.find("gateway_queue_wait_seconds_bucket{le=\"+Inf\"} 2"), std::string::npos)
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

// --- shutdown --------------------------------------------------------------------------------

TEST(queue_api, sigterm_answers_waiters_503_or_closes_and_exits_0) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "10000"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));
  auto waiters = fire_concurrently(server.port(), {"/?shard=0", "/?shard=1", "/?shard=2"});
  ASSERT_TRUE(wait_for_waiting(server.port(), 3)) << server.output();

  const auto signalled = std::chrono::steady_clock::now();
  server.terminate();
  const exit_status status = server.wait(5s);
  EXPECT_TRUE(status.exited_with(0)) << status.describe() << "\n" << server.output();
  EXPECT_LT(ms_between(signalled, std::chrono::steady_clock::now()), 5000);
  for (auto& waiter : waiters) {
    const int answer = waiter->status();
    EXPECT_TRUE(answer == 503 || answer == 0) << waiter->target() << " got " << answer;
  }
}

TEST(queue_api, sigterm_on_an_idle_server_exits_0) {
  server_process server;
  ASSERT_TRUE(server.start());
  const exit_status status = server.stop(5s);
  EXPECT_TRUE(status.exited_with(0)) << status.describe() << "\n" << server.output();
}

// --- configuration ---------------------------------------------------------------------------

TEST(queue_api, bad_configuration_exits_2_naming_the_variable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"PORT", "abc"},
      {"PORT", "70000"},
      {"QUEUE_ON_EXHAUSTED", "maybe"},
      {"QUEUE_IDENTIFY_INTERVAL_MS", "-5"},
      {"QUEUE_MAX_CONCURRENCY", "many"},
      {"QUEUE_LOG_FORMAT", "xml"},
      {"QUEUE_LOG_LEVEL", "loud"}};
  for (const auto& [name, value] : cases) {
    env_map env = {{"PORT", std::to_string(free_port())}};
    env[name] = value;
    const run_result run = run_to_exit({}, env, 5s);
    EXPECT_FALSE(run.timed_out) << name << "=" << value << " was accepted";
    EXPECT_TRUE(run.status.exited_with(2))
        << name << "=" << value << ": " << run.status.describe() << "\n"
        << run.err;
    EXPECT_NE(run.err.find(name), std::string::npos)
        << name << "=" << value << " stderr: " << run.err;
  }
}

TEST(queue_api, bad_flag_value_exits_2) {
  const run_result run = run_to_exit({"--port", "abc"}, {}, 5s);
  EXPECT_FALSE(run.timed_out);
  EXPECT_TRUE(run.status.exited_with(2)) << run.status.describe() << "\n" << run.err;
  EXPECT_FALSE(run.err.empty());
}

TEST(queue_api, help_lists_every_variable_and_exits_0) {
  const run_result run = run_to_exit({"--help"}, {}, 5s);
  EXPECT_TRUE(run.status.exited_with(0)) << run.status.describe() << "\n" << run.err;
  for (const char* name :
       {"HOST", "PORT", "DISCORD_TOKEN", "DISCORD_API_URL", "QUEUE_DB",
        "QUEUE_IDENTIFY_INTERVAL_MS", "QUEUE_MAX_CONCURRENCY", "QUEUE_DAILY_LIMIT",
        "QUEUE_REFRESH_INTERVAL_S", "QUEUE_ON_EXHAUSTED", "QUEUE_MAX_WAITING", "QUEUE_AUTH_TOKEN",
        "QUEUE_RETENTION_DAYS", "QUEUE_LOG_FORMAT", "QUEUE_LOG_LEVEL"}) {
    EXPECT_NE(run.out.find(name), std::string::npos) << name << " missing from --help:\n"
                                                     << run.out;
  }
}

TEST(queue_api, flag_wins_over_its_environment_variable) {
  scratch_dir files;
  const std::string env_db = files.file("from-env.db");
  const std::string flag_db = files.file("from-flag.db");
  server_process server({{"QUEUE_DB", env_db}, {"QUEUE_IDENTIFY_INTERVAL_MS", "50"}},
                        {"--db", flag_db});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));
  EXPECT_TRUE(std::filesystem::exists(flag_db));
  EXPECT_FALSE(std::filesystem::exists(env_db));
}

}  // namespace
}  // namespace gq::integration
