#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/app/command_line.hpp"
#include "src/app/config.hpp"
#include "support/env_guard.hpp"

// `gateway-queue plan`: a flag beats Discord's value, the environment only stands in for the
// configuration (used without a token).

namespace gq {
namespace {

class config_plan_test : public ::testing::Test {
 protected:
  testing::env_guard env_;
};

TEST_F(config_plan_test, flags_are_overrides_and_the_environment_is_configuration) {
  env_.set("QUEUE_MAX_CONCURRENCY", "16");
  env_.set("QUEUE_IDENTIFY_INTERVAL_MS", "250");
  const auto plan = testing::parse_as<plan_command>(
      {"plan", "--shards", "64", "--daily-limit", "2000", "--remaining", "10", "--json"});
  EXPECT_EQ(plan.shards, 64u);
  EXPECT_FALSE(plan.max_concurrency_flag) << "from the environment: Discord's value would win";
  EXPECT_EQ(plan.max_concurrency_config, 16u);
  ASSERT_TRUE(plan.total_flag);
  EXPECT_EQ(*plan.total_flag, 2000u);
  ASSERT_TRUE(plan.remaining_flag);
  EXPECT_EQ(*plan.remaining_flag, 10u);
  EXPECT_FALSE(plan.reset_after_ms_flag);
  EXPECT_EQ(plan.interval.count(), 250);
  EXPECT_TRUE(plan.json);

  const auto flagged =
      testing::parse_as<plan_command>({"plan", "--shards", "1", "--max-concurrency", "4"});
  ASSERT_TRUE(flagged.max_concurrency_flag);
  EXPECT_EQ(*flagged.max_concurrency_flag, 4u);
  EXPECT_FALSE(flagged.json);
}

TEST_F(config_plan_test, shards_are_required_and_bad_values_name_the_flag) {
  auto missing = testing::parse_exit({"plan"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.message.find("--shards"), std::string::npos) << missing.message;
  auto zero = testing::parse_exit({"plan", "--shards", "0"});
  EXPECT_EQ(zero.code, 2);
  auto bad = testing::parse_exit({"plan", "--shards", "3", "--interval-ms", "fast"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.message.find("--interval-ms"), std::string::npos) << bad.message;
}

}  // namespace
}  // namespace gq
