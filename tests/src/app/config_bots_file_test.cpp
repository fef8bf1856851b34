// QUEUE_BOTS_FILE (--bots-file) in the server's configuration: docs/CONFIGURATION.md, "Several
// bots: the bots file". The file's own rules: bots_file_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "src/app/command_line.hpp"
#include "src/app/config.hpp"
#include "support/env_guard.hpp"

namespace gq {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class config_bots_file_test : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/gq-config-bots-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& contents) {
    const auto path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  std::vector<std::string> names(const server_config& config) {
    std::vector<std::string> result;
    for (const auto& bot : config.bots) result.push_back(bot.name);
    return result;
  }

  testing::env_guard env_;
  std::string dir_;
};

TEST_F(config_bots_file_test, without_the_file_there_are_no_bots_from_it) {
  const auto config = testing::parse_as<server_config>({});
  EXPECT_FALSE(config.bots_file);
  EXPECT_TRUE(config.bots.empty());
}

TEST_F(config_bots_file_test, the_variable_and_the_flag_are_read_and_the_flag_wins) {
  const auto two = write("two.toml", "[[bot]]\nname = \"a\"\n[[bot]]\nname = \"b\"\n");
  const auto one = write("one.toml", "[[bot]]\nname = \"c\"\n");
  env_.set("QUEUE_BOTS_FILE", two);
  auto config = testing::parse_as<server_config>({});
  EXPECT_EQ(config.bots_file, two);
  EXPECT_EQ(names(config), (std::vector<std::string>{"a", "b"}));

  config = testing::parse_as<server_config>({"--bots-file", one});
  EXPECT_EQ(config.bots_file, one);
  EXPECT_EQ(names(config), (std::vector<std::string>{"c"}));
  EXPECT_EQ(names(testing::parse_as<server_config>({"--bots-file=" + one})),
            (std::vector<std::string>{"c"}));
}

TEST_F(config_bots_file_test, a_bad_file_exits_2_with_its_line) {
  const auto bad = write("bad.toml", "[[bot]]\nname = \"a\"\ndaily_limt = 5\n");
  for (bool from_env : {true, false}) {
    testing::env_guard guard{"QUEUE_BOTS_FILE"};
    std::vector<std::string> args;
    if (from_env) {
      guard.set("QUEUE_BOTS_FILE", bad);
    } else {
      args = {"--bots-file", bad};
    }
    const auto exit = testing::parse_exit(args);
    EXPECT_EQ(exit.code, 2);
    EXPECT_THAT(exit.message, StartsWith("QUEUE_BOTS_FILE " + bad + ": line 3: "));
  }
  EXPECT_EQ(testing::parse_exit({"--bots-file", dir_ + "/absent.toml"}).code, 2);
  env_.set("QUEUE_BOTS_FILE", "");
  const auto empty = testing::parse_exit({});
  EXPECT_EQ(empty.code, 2);
  EXPECT_THAT(empty.message, HasSubstr("QUEUE_BOTS_FILE (--bots-file): must not be empty"));
}

TEST_F(config_bots_file_test, a_bot_with_the_operators_token_exits_2_naming_the_bot) {
  write("a.auth", "operator-secret\n");
  const auto file = write("bots.toml", "[[bot]]\nname = \"a\"\nauth_token_file = \"a.auth\"\n");
  env_.set("QUEUE_AUTH_TOKEN", "operator-secret");
  const auto exit = testing::parse_exit({"--bots-file", file});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(exit.message, HasSubstr("bot \"a\": auth_token_file holds the operator's token"));
  EXPECT_THAT(exit.message, Not(HasSubstr("operator-secret")));
  env_.set("QUEUE_AUTH_TOKEN", "another-secret");
  EXPECT_EQ(testing::parse_as<server_config>({"--bots-file", file}).bots.size(), 1u);
}

TEST_F(config_bots_file_test, help_lists_the_flag_and_the_variable) {
  const auto help = testing::parse_exit({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.message, HasSubstr("--bots-file"));
  EXPECT_THAT(help.message, HasSubstr("QUEUE_BOTS_FILE"));
}

}  // namespace
}  // namespace gq
