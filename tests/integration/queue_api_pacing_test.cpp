// The queue request through the real binary: pacing within and across buckets, and which
// requests are queue requests and which are refused at once. The contract: docs/HTTP_API.md.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/queue_api_checks.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

using namespace queue_api_checks;

// --- pacing ----------------------------------------------------------------------------------

TEST(queue_api, defaults_grant_two_shard0_requests_5000ms_apart) {
  server_process server;
  ASSERT_TRUE(server.start());
  auto requests = fire_concurrently(server.port(), {"/?shard=0", "/?shard=0"});
  auto times = grant_times(requests);
  ASSERT_EQ(times.size(), 2u) << server.output();
  std::sort(times.begin(), times.end());
  EXPECT_GE(ms_between_exact(times[0], times[1]), 5000.0);
  // The spacing the server decided: the default interval, the second grant one interval after
  // the first, not two (exactly one on a fake clock:
  // bucket_flow.same_bucket_is_serial_at_the_interval).
  auto status = http_get(server.port(), "/status").json();
  EXPECT_EQ(status["buckets"][0].value("interval_ms", -1), 5000) << status.dump();
  auto grants = journaled_grants(server.port());
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_LT(grants[0].waited_ms, 5000) << "an idle bucket's grant is due at its arrival";
  EXPECT_GE(grants[1].released_at - grants[0].released_at, 5000);
  EXPECT_LT(grants[1].released_at - grants[0].released_at, 10000) << "due an interval late";
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
  // Back to back as the server decided them: the first at its arrival, each next one interval
  // after the previous, never an interval more (exactly one on a fake clock:
  // bucket_flow.same_bucket_is_serial_at_the_interval).
  auto grants = journaled_grants(server.port());
  ASSERT_EQ(grants.size(), 4u);
  EXPECT_LT(grants[0].waited_ms, 400) << "an idle bucket's grant is due at its arrival";
  for (std::size_t i = 1; i < grants.size(); ++i) {
    const long long spacing = grants[i].released_at - grants[i - 1].released_at;
    EXPECT_GE(spacing, 400) << "between grants " << i - 1 << " and " << i;
    EXPECT_LT(spacing, 800) << "grant " << i << " was due an interval late";
  }
}

TEST(queue_api, different_buckets_are_granted_together) {
  server_process server({{"QUEUE_MAX_CONCURRENCY", "4"}});  // interval stays 5000 ms
  ASSERT_TRUE(server.start());
  auto requests =
      fire_concurrently(server.port(), {"/?shard=0", "/?shard=1", "/?shard=2", "/?shard=3"});
  auto times = grant_times(requests);
  ASSERT_EQ(times.size(), 4u) << server.output();
  // One grant per bucket, each due at its arrival: none waited for another bucket's interval
  // (on a fake clock: bucket_flow.different_buckets_grant_in_parallel).
  expect_four_buckets_granted_in_parallel(journaled_grants(server.port()));
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
  // A busy bucket: a request wrongly taken as a waiter would not be answered for a day, so it
  // would get no answer at all within the client's 60 s.
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "86400000"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));

  const std::vector<std::string> queries = {
      "shard=abc", "shard=-1",  "shard=1.5",       "shard=" + std::string(24, '7'),
      "shard=",    "shard",     "shard=1&shard=2", "shard=9223372036854775808",
      "shard=+1",  "shard=0x1", "shard=1e3",       "shard=%201",
      "shard=%G1"};
  for (const auto& query : queries) {
    auto reply = http_get(server.port(), "/?" + query);
    EXPECT_EQ(reply.status, 400) << query << ": " << reply.body << reply.error;
    EXPECT_TRUE(is_error_json(reply.json())) << query << ": " << reply.body;
    EXPECT_EQ(reply.header("Content-Type").rfind("application/json", 0), 0u) << query;
    EXPECT_EQ(waiting_count(server.port()), 0) << query << " was taken as a waiter";
  }
  EXPECT_EQ(journaled_grants(server.port()).size(), 1u) << "a malformed request was granted";
}

TEST(queue_api, largest_shard_and_a_repeated_equal_shard_are_accepted) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  auto largest = http_get(server.port(), "/?shard=9223372036854775807");
  EXPECT_TRUE(is_granted(largest)) << largest.status << " " << largest.body;
  auto repeated = http_get(server.port(), "/?shard=3&shard=3");
  EXPECT_TRUE(is_granted(repeated)) << repeated.status << " " << repeated.body;
}

}  // namespace
}  // namespace gq::integration
