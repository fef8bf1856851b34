// `gateway-queue plan --bot NAME`: one bot of the bots file (QUEUE_BOTS_FILE, --bots-file)
// stands in for the variables, as the server resolves that bot (bot_definition.cpp); a flag still
// wins, and the bot's own Discord token, never DISCORD_TOKEN, gives the live limits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "src/app/command_line.hpp"
#include "src/app/config.hpp"
#include "support/env_guard.hpp"

namespace gq {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class config_plan_bot_test : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/gq-config-plan-bot-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    write("alpha.discord", "alpha-discord-secret\n");
    bots_file_ = write("bots.toml",
                       "[[bot]]\n"
                       "name = \"alpha\"\n"
                       "discord_token_file = \"alpha.discord\"\n"
                       "max_concurrency = 16\n"
                       "daily_limit = 2000\n"
                       "identify_interval_ms = 400\n"
                       "on_exhausted = \"reject\"\n"
                       "reserve = 7\n"
                       "[[bot]]\n"
                       "name = \"beta\"\n");
    // The variables: what a bot's left-out keys take, and what plan uses without --bot.
    env_.set("QUEUE_MAX_CONCURRENCY", "2");
    env_.set("QUEUE_DAILY_LIMIT", "50");
    env_.set("QUEUE_IDENTIFY_INTERVAL_MS", "250");
    env_.set("QUEUE_RESERVE", "3");
    env_.set("DISCORD_TOKEN", "variables-discord-secret");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& contents) {
    const auto path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  static plan_command plan(std::vector<std::string> args) {
    args.insert(args.begin(), {"plan", "--shards", "10"});
    return testing::parse_as<plan_command>(args);
  }
  static exit_request plan_exit(std::vector<std::string> args) {
    args.insert(args.begin(), {"plan", "--shards", "10"});
    return testing::parse_exit(args);
  }

  testing::env_guard env_{
      "QUEUE_MAX_CONCURRENCY", "QUEUE_DAILY_LIMIT", "QUEUE_IDENTIFY_INTERVAL_MS",
      "QUEUE_ON_EXHAUSTED",    "QUEUE_RESERVE",     "DISCORD_TOKEN",
      "DISCORD_TOKEN_FILE",    "QUEUE_BOTS_FILE",   "QUEUE_AUTH_TOKEN"};
  std::string dir_;
  std::string bots_file_;
};

TEST_F(config_plan_bot_test, the_bots_settings_stand_in_for_the_variables) {
  const auto alpha = plan({"--bots-file", bots_file_, "--bot", "alpha"});
  EXPECT_EQ(alpha.bot, "alpha");
  EXPECT_EQ(alpha.max_concurrency_config, 16u);
  EXPECT_FALSE(alpha.max_concurrency_flag) << "Discord's value (with its token) still beats it";
  EXPECT_EQ(alpha.total_config, 2000u);
  EXPECT_FALSE(alpha.total_flag);
  EXPECT_EQ(alpha.interval.count(), 400);
  EXPECT_EQ(alpha.on_exhausted, exhausted_policy::reject);
  EXPECT_EQ(alpha.reserve, 7u);
  EXPECT_EQ(alpha.discord_token, "alpha-discord-secret") << "the bot's token gives live limits";
}

TEST_F(config_plan_bot_test, keys_left_out_take_the_variables_but_not_their_discord_token) {
  const auto beta = plan({"--bots-file", bots_file_, "--bot", "beta"});
  EXPECT_EQ(beta.max_concurrency_config, 2u);
  EXPECT_EQ(beta.total_config, 50u);
  EXPECT_EQ(beta.interval.count(), 250);
  EXPECT_EQ(beta.on_exhausted, exhausted_policy::hold);
  EXPECT_EQ(beta.reserve, 3u);
  EXPECT_FALSE(beta.discord_token) << "as in the server: DISCORD_TOKEN is not a file bot's";
}

TEST_F(config_plan_bot_test, flags_still_win_over_the_bots_settings) {
  const auto alpha =
      plan({"--bots-file", bots_file_, "--bot", "alpha", "--max-concurrency", "4", "--daily-limit",
            "10", "--interval-ms", "100", "--on-exhausted", "hold", "--reserve", "0"});
  EXPECT_EQ(alpha.max_concurrency_flag, 4u);
  EXPECT_EQ(alpha.total_flag, 10u);
  EXPECT_EQ(alpha.interval.count(), 100);
  EXPECT_EQ(alpha.on_exhausted, exhausted_policy::hold);
  EXPECT_EQ(alpha.reserve, 0u);
}

TEST_F(config_plan_bot_test, the_file_comes_from_the_variable_or_either_flag) {
  env_.set("QUEUE_BOTS_FILE", bots_file_);
  EXPECT_EQ(plan({"--bot", "alpha"}).interval.count(), 400);
  EXPECT_EQ(testing::parse_as<plan_command>(
                {"--bots-file", bots_file_, "plan", "--shards", "1", "--bot", "alpha"})
                .interval.count(),
            400);
  // The subcommand's flag beats the variable and the main command's flag.
  const auto other = write("other.toml", "[[bot]]\nname = \"alpha\"\nidentify_interval_ms = 9\n");
  EXPECT_EQ(plan({"--bots-file", other, "--bot", "alpha"}).interval.count(), 9);
  EXPECT_EQ(testing::parse_as<plan_command>({"--bots-file", bots_file_, "plan", "--shards", "1",
                                             "--bot", "alpha", "--bots-file", other})
                .interval.count(),
            9);
}

TEST_F(config_plan_bot_test, without_bot_the_variables_plan_and_the_file_is_not_read) {
  env_.set("QUEUE_BOTS_FILE", write("bad.toml", "[[bot]]\nnme = \"x\"\n"));
  const auto plain = plan({});
  EXPECT_FALSE(plain.bot);
  EXPECT_EQ(plain.max_concurrency_config, 2u);
  EXPECT_EQ(plain.interval.count(), 250);
  EXPECT_EQ(plain.discord_token, "variables-discord-secret");
}

TEST_F(config_plan_bot_test, an_unknown_bot_exits_2_naming_it_and_the_file) {
  const auto exit = plan_exit({"--bots-file", bots_file_, "--bot", "gamma"});
  EXPECT_EQ(exit.code, 2);
  EXPECT_EQ(exit.message, "invalid --bot: no bot \"gamma\" in QUEUE_BOTS_FILE " + bots_file_);
}

TEST_F(config_plan_bot_test, bot_without_a_bots_file_exits_2) {
  const auto exit = plan_exit({"--bot", "alpha"});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(exit.message, StartsWith("invalid --bot: "));
  EXPECT_THAT(exit.message, HasSubstr("QUEUE_BOTS_FILE (--bots-file) is not set"));
}

TEST_F(config_plan_bot_test, a_bad_name_or_a_bad_file_exits_2_without_a_secret) {
  const auto name = plan_exit({"--bots-file", bots_file_, "--bot", "Alpha"});
  EXPECT_EQ(name.code, 2);
  EXPECT_THAT(name.message, HasSubstr("invalid --bot: \"Alpha\" is not a bot name"));

  const auto bad = write("bad.toml",
                         "[[bot]]\nname = \"alpha\"\ndiscord_token_file = \"alpha.discord\"\n"
                         "daily_limit = \"2000\"\n");
  const auto file = plan_exit({"--bots-file", bad, "--bot", "alpha"});
  EXPECT_EQ(file.code, 2);
  EXPECT_THAT(file.message, StartsWith("QUEUE_BOTS_FILE " + bad + ": line 4: "));
  EXPECT_THAT(file.message, Not(HasSubstr("alpha-discord-secret")));
}

TEST_F(config_plan_bot_test, help_lists_the_flags) {
  const auto help = testing::parse_exit({"plan", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.message, HasSubstr("--bot "));
  EXPECT_THAT(help.message, HasSubstr("--bots-file"));
  EXPECT_THAT(help.message, HasSubstr("QUEUE_BOTS_FILE"));
}

}  // namespace
}  // namespace gq
