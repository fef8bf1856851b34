// `gateway-queue plan` through the real binary: its output, its exit codes, and its duration
// against a measured boot of the real queue.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

nlohmann::json plan_json(const std::vector<std::string>& args, int expected_exit = 0) {
  std::vector<std::string> all{"plan", "--json"};
  all.insert(all.end(), args.begin(), args.end());
  auto run = run_to_exit(all, {});
  EXPECT_TRUE(run.status.exited_with(expected_exit)) << run.status.describe() << "\n" << run.err;
  return nlohmann::json::parse(run.out, nullptr, false);
}

TEST(plan, prints_the_boot_per_bucket_and_what_it_leaves) {
  auto run = run_to_exit({"plan", "--shards", "40", "--max-concurrency", "4", "--interval-ms",
                          "200", "--remaining", "900", "--daily-limit", "1000"},
                         {});
  ASSERT_TRUE(run.status.exited_with(0)) << run.status.describe() << run.err;
  EXPECT_NE(run.out.find("Takes 1.800 s"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("buckets 0-3: 10 shards, last grant at +1.800 s"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("Leaves 860 session starts until the reset"), std::string::npos)
      << run.out;
  EXPECT_EQ(run.out.find("WARNING"), std::string::npos);
}

TEST(plan, more_shards_than_remaining_warn_wait_for_the_reset_and_exit_3) {
  auto run = run_to_exit({"plan", "--shards", "40", "--max-concurrency", "4", "--interval-ms",
                          "200", "--remaining", "30", "--reset-after-ms", "3600000"},
                         {});
  EXPECT_TRUE(run.status.exited_with(3)) << run.status.describe() << run.err;
  EXPECT_NE(run.out.find("WARNING: 40 shards exceed the remaining 30: 10 wait for the daily "
                         "reset in 1 h 0 min 0.0 s"),
            std::string::npos)
      << run.out;
  auto body = plan_json({"--shards", "40", "--max-concurrency", "4", "--interval-ms", "200",
                         "--remaining", "30", "--reset-after-ms", "3600000"},
                        3);
  EXPECT_EQ(body["duration_ms"], 3'600'000 + 400);
  EXPECT_EQ(body["after_reset"], 10);
  EXPECT_EQ(body["waits_for_reset"], true);
}

TEST(plan, limits_come_from_the_configuration_and_bad_values_exit_2) {
  auto run =
      run_to_exit({"plan", "--shards", "3", "--json"}, {{"QUEUE_MAX_CONCURRENCY", "2"},
                                                        {"QUEUE_IDENTIFY_INTERVAL_MS", "1000"},
                                                        {"QUEUE_DAILY_LIMIT", "50"}});
  ASSERT_TRUE(run.status.exited_with(0)) << run.err;
  auto body = nlohmann::json::parse(run.out);
  EXPECT_EQ(body["max_concurrency"], 2);
  EXPECT_EQ(body["total"], 50);
  EXPECT_EQ(body["remaining"], 50);
  EXPECT_EQ(body["duration_ms"], 1000);
  EXPECT_EQ(body["limits_source"], "config");
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"plan"},
           {"plan", "--shards", "0"},
           {"plan", "--shards", "x"},
           {"plan", "--shards", "5", "--max-concurrency", "0"},
           {"plan", "--shards", "5", "--remaining", "2000", "--daily-limit", "1000"}}) {
    auto r = run_to_exit(bad, {});
    EXPECT_TRUE(r.status.exited_with(2)) << bad.back() << ": " << r.status.describe() << r.err;
    EXPECT_FALSE(r.err.empty());
  }
}

// The plan of 40 shards, max_concurrency 4, 200 ms against a real boot: every shard asks at
// once (bucket heads first, as shard order has it), and the boot lasts from the first request
// to the last 200's arrival. The plan says 9 intervals (1.8 s): an idle bucket grants at once.
TEST(plan, agrees_with_a_measured_boot_within_one_percent) {
  auto plan = plan_json({"--shards", "40", "--max-concurrency", "4", "--interval-ms", "200"});
  ASSERT_TRUE(plan.contains("duration_ms"));
  const double planned = plan["duration_ms"].get<double>();
  ASSERT_EQ(planned, 1800.0);

  server_process server{{"QUEUE_MAX_CONCURRENCY", "4"}, {"QUEUE_IDENTIFY_INTERVAL_MS", "200"}};
  ASSERT_TRUE(server.start());
  std::vector<std::string> targets;
  for (int shard = 0; shard < 40; ++shard) targets.push_back("/?shard=" + std::to_string(shard));
  auto requests = fire_concurrently(server.port(), targets);
  const auto first_request = requests.front()->sent_at();
  auto times = grant_times(requests);
  ASSERT_EQ(times.size(), 40u);
  const auto last_grant = *std::max_element(times.begin(), times.end());
  const double measured =
      std::chrono::duration<double, std::milli>(last_grant - first_request).count();
  std::printf("plan: %.0f ms, measured boot: %.2f ms (%.3f %%)\n", planned, measured,
              100.0 * (measured - planned) / planned);
  EXPECT_NEAR(measured, planned, planned * 0.01);
}

}  // namespace
}  // namespace gq::integration
