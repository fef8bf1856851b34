// `gateway-queue plan` through the real binary: its output, its exit codes, and its duration
// against a measured boot of the real queue.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "support/fake_discord.hpp"

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
  auto run =
      run_to_exit({"plan", "--shards", "40", "--max-concurrency", "4", "--interval-ms", "200",
                   "--remaining", "30", "--reset-after-ms", "3600000", "--reserve", "0"},
                  {});
  EXPECT_TRUE(run.status.exited_with(3)) << run.status.describe() << run.err;
  EXPECT_NE(run.out.find("WARNING: 40 shards exceed the 30 a boot may use: 10 wait for the daily "
                         "reset in 1 h 0 min 0.0 s"),
            std::string::npos)
      << run.out;
  auto body = plan_json({"--shards", "40", "--max-concurrency", "4", "--interval-ms", "200",
                         "--remaining", "30", "--reset-after-ms", "3600000", "--reserve", "0"},
                        3);
  EXPECT_EQ(body["duration_ms"], 3'600'000 + 400);
  EXPECT_EQ(body["after_reset"], 10);
  EXPECT_EQ(body["waits_for_reset"], true);
}

TEST(plan, a_boot_is_planned_without_the_reserve_kept_for_reconnects) {
  const std::vector<std::string> args{"--shards",         "40",     "--max-concurrency", "4",
                                      "--interval-ms",    "200",    "--remaining",       "30",
                                      "--reset-after-ms", "3600000"};
  auto with_reserve = args;
  with_reserve.insert(with_reserve.end(), {"--reserve", "20"});
  auto run = run_to_exit(
      [&] {
        std::vector<std::string> all{"plan"};
        all.insert(all.end(), with_reserve.begin(), with_reserve.end());
        return all;
      }(),
      {});
  EXPECT_TRUE(run.status.exited_with(3)) << run.status.describe() << run.err;
  EXPECT_NE(run.out.find("Reserve: 20 session starts kept for reconnects (QUEUE_RESERVE): a boot "
                         "(initial=true) may use 10 of the 30 left"),
            std::string::npos)
      << run.out;
  auto body = plan_json(with_reserve, 3);
  EXPECT_EQ(body["reserve"], 20);
  EXPECT_EQ(body["boot_budget"], 10);
  EXPECT_EQ(body["after_reset"], 30) << "only 10 of the 40 boot before the reset";
  // Without --reserve: 5 % of the daily total (1000), rounded up; more than the 30 left.
  EXPECT_EQ(plan_json(args, 3)["reserve"], 50);
  EXPECT_EQ(plan_json(args, 3)["after_reset"], 40);
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

TEST(plan, reads_the_live_limits_from_discord_and_flags_override_them) {
  // Discord: 25 of 1000 left, reset in 2 h, max_concurrency 16.
  testing::fake_discord fake{
      {.total = 1000, .remaining = 25, .reset_after = 2h, .max_concurrency = 16}};
  const env_map env{{"DISCORD_TOKEN", "plan-test-token"}, {"DISCORD_API_URL", fake.api_url()}};
  auto run = run_to_exit(
      {"plan", "--shards", "48", "--interval-ms", "5000", "--reserve", "0", "--json"}, env);
  EXPECT_TRUE(run.status.exited_with(3)) << run.status.describe() << run.err;
  auto body = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_TRUE(body.is_object()) << run.out;
  EXPECT_EQ(body["limits_source"], "discord");
  EXPECT_EQ(body["max_concurrency"], 16);
  EXPECT_EQ(body["remaining"], 25);
  EXPECT_EQ(body["total"], 1000);
  EXPECT_NEAR(body["reset_after_ms"].get<double>(), 7'200'000.0, 5'000.0);
  EXPECT_EQ(body["after_reset"], 23) << "25 of the 48 shards fit before the reset";
  EXPECT_EQ(run.out.find("plan-test-token"), std::string::npos);

  auto overridden = run_to_exit(
      {"plan", "--shards", "48", "--max-concurrency", "4", "--remaining", "100", "--json"}, env);
  EXPECT_TRUE(overridden.status.exited_with(0)) << overridden.err;
  body = nlohmann::json::parse(overridden.out, nullptr, false);
  EXPECT_EQ(body["max_concurrency"], 4);
  EXPECT_EQ(body["remaining"], 100);
  EXPECT_EQ(body["duration_ms"], 11 * 5000) << "12 shards per bucket, default interval";

  fake.set_expected_token("plan-test-token");
  auto rejected = run_to_exit({"plan", "--shards", "1"},
                              {{"DISCORD_TOKEN", "wrong"}, {"DISCORD_API_URL", fake.api_url()}});
  EXPECT_TRUE(rejected.status.exited_with(1)) << rejected.status.describe();
  EXPECT_NE(rejected.err.find("token was rejected"), std::string::npos) << rejected.err;
}

// `plan --bot`: the bot's settings in the bots file stand in for the variables, and its own
// Discord token (not DISCORD_TOKEN) reads the live limits.
TEST(plan, a_bot_of_the_bots_file_plans_with_its_settings_and_its_discord_token) {
  testing::fake_discord fake{
      {.total = 1000, .remaining = 25, .reset_after = 2h, .max_concurrency = 16}};
  fake.set_expected_token("alpha-discord-token");
  scratch_dir dir;
  std::ofstream(dir.file("alpha.discord")) << "alpha-discord-token\n";
  std::ofstream(dir.file("bots.toml"))
      << "[[bot]]\nname = \"alpha\"\ndiscord_token_file = \"alpha.discord\"\n"
      << "identify_interval_ms = 200\nreserve = 0\n"
      << "[[bot]]\nname = \"beta\"\nmax_concurrency = 4\ndaily_limit = 500\n";
  const env_map env{{"DISCORD_TOKEN", "variables-token"},
                    {"DISCORD_API_URL", fake.api_url()},
                    {"QUEUE_IDENTIFY_INTERVAL_MS", "1000"},
                    {"QUEUE_BOTS_FILE", dir.file("bots.toml")}};

  auto alpha = run_to_exit({"plan", "--shards", "48", "--bot", "alpha", "--json"}, env);
  EXPECT_TRUE(alpha.status.exited_with(3)) << alpha.status.describe() << alpha.err;
  auto body = nlohmann::json::parse(alpha.out, nullptr, false);
  ASSERT_TRUE(body.is_object()) << alpha.out;
  EXPECT_EQ(body["bot"], "alpha");
  EXPECT_EQ(body["limits_source"], "discord") << "with the bot's token, which the fake accepts";
  EXPECT_EQ(body["max_concurrency"], 16);
  EXPECT_EQ(body["remaining"], 25);
  EXPECT_EQ(body["interval_ms"], 200);
  EXPECT_EQ(body["reserve"], 0);
  EXPECT_EQ(alpha.out.find("alpha-discord-token"), std::string::npos);

  auto beta = run_to_exit({"plan", "--shards", "8", "--bot", "beta", "--interval-ms", "300"}, env);
  EXPECT_TRUE(beta.status.exited_with(0)) << beta.status.describe() << beta.err;
  EXPECT_NE(beta.out.find("Boot of 8 shards of bot beta, max_concurrency 4, identify interval "
                          "300 ms"),
            std::string::npos)
      << beta.out;
  EXPECT_NE(beta.out.find("500 of 500 left"), std::string::npos) << "no token: its daily_limit";

  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"plan", "--shards", "1", "--bot", "gamma"}, "no bot \"gamma\" in QUEUE_BOTS_FILE"},
           {{"plan", "--shards", "1", "--bot", "Alpha"}, "is not a bot name"}}) {
    auto refused = run_to_exit(args, env);
    EXPECT_TRUE(refused.status.exited_with(2)) << refused.status.describe();
    EXPECT_NE(refused.err.find(expected), std::string::npos) << refused.err;
  }
  auto no_file = run_to_exit({"plan", "--shards", "1", "--bot", "alpha"}, {});
  EXPECT_TRUE(no_file.status.exited_with(2)) << no_file.status.describe();
  EXPECT_NE(no_file.err.find("QUEUE_BOTS_FILE (--bots-file) is not set"), std::string::npos)
      << no_file.err;
}

// One boot of 40 shards through a fresh server (max_concurrency 4, 200 ms), in ms: at the client,
// from the first request to the kernel's receive time of the last 200; as the server decided it,
// from the first journaled grant's due instant to the last's. The 40 connections are open before
// the boot starts, so that it measures the queue, not this test's connection set-up; then all 40
// requests go out back to back (bucket heads first, as shard order has it).
struct boot {
  double measured = 0;
  long long decided = 0;
};

boot measure_boot() {
  server_process server{{"QUEUE_MAX_CONCURRENCY", "4"}, {"QUEUE_IDENTIFY_INTERVAL_MS", "200"}};
  EXPECT_TRUE(server.start());
  std::vector<std::unique_ptr<raw_connection>> connections;
  for (int shard = 0; shard < 40; ++shard) {
    connections.push_back(std::make_unique<raw_connection>(server.port()));
    EXPECT_TRUE(connections.back()->connected());
  }
  const auto first_request = std::chrono::steady_clock::now();
  for (int shard = 0; shard < 40; ++shard) {
    EXPECT_TRUE(connections[shard]->send_all(
        request_text("/?shard=" + std::to_string(shard), "Connection: close\r\n")));
  }
  std::vector<steady_time> arrived(40);
  std::vector<std::thread> readers;
  for (int shard = 0; shard < 40; ++shard) {
    readers.emplace_back([&, shard] {
      auto response = connections[shard]->read_response(10s);
      if (response && response->status == 200) arrived[shard] = response->arrived_at;
    });
  }
  for (auto& reader : readers) reader.join();
  for (int shard = 0; shard < 40; ++shard)
    EXPECT_NE(arrived[shard], steady_time{}) << "shard " << shard << " was not granted";
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  for (int b = 0; b < 4; ++b) {  // where a difference comes from, per bucket
    std::printf("  bucket %d: first grant at +%.2f ms, last at +%.2f ms\n", b,
                ms(arrived[b] - first_request), ms(arrived[36 + b] - first_request));
  }
  const auto grants = journaled_grants(server.port());
  EXPECT_EQ(grants.size(), 40u);
  return {ms(*std::max_element(arrived.begin(), arrived.end()) - first_request),
          grants.empty() ? 0 : grants.back().released_at - grants.front().released_at};
}

// `plan` against a real boot. The plan is 9 intervals, since an idle bucket grants at once (its
// arithmetic, exactly: boot_plan.forty_shards_four_buckets_take_nine_intervals). The boot the
// server decided takes those 9 intervals, never less (no grant early) and not an interval more
// (no grant a slot later than the plan). A real boot is longer than its decided instants by the
// grants' send delays, and on a loaded machine by what other processes take; how close it comes
// to the plan is a speed figure, measured by `bench/run.sh drain` (docs/BENCHMARKS.md, "Drain":
// drain vs ideal, goal within 1 %).
TEST(plan, agrees_with_a_measured_boot) {
  auto plan = plan_json({"--shards", "40", "--max-concurrency", "4", "--interval-ms", "200"});
  ASSERT_TRUE(plan.contains("duration_ms"));
  const double planned = plan["duration_ms"].get<double>();
  ASSERT_EQ(planned, 1800.0);
  const boot measured = measure_boot();
  std::printf("plan: %.0f ms, decided boot: %lld ms, measured boot: %.2f ms (%+.3f %%)\n", planned,
              measured.decided, measured.measured, 100.0 * (measured.measured - planned) / planned);
  EXPECT_GE(measured.measured, planned) << "a boot faster than the plan: a grant was early";
  EXPECT_GE(measured.decided, 1800) << "a grant due before the plan";
  EXPECT_LT(measured.decided, 1800 + 200) << "a grant due an interval later than the plan";
}

}  // namespace
}  // namespace gq::integration
