// Secrets read from files (DISCORD_TOKEN_FILE, QUEUE_AUTH_TOKEN_FILE, QUEUE_DB_FILE and their
// --*-file flags): docs/CONFIGURATION.md, "Secrets in files".
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
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

class config_secret_files_test : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/gq-secret-files-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& contents) {
    const auto path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  testing::env_guard env_;
  std::string dir_;
};

TEST_F(config_secret_files_test, each_secret_is_read_from_its_file_without_the_final_newline) {
  env_.set("DISCORD_TOKEN_FILE", write("discord", "tok.from-file\n"));
  env_.set("QUEUE_AUTH_TOKEN_FILE", write("auth", "auth-from-file"));
  env_.set("QUEUE_DB_FILE", write("db", "postgresql://gq:pw@127.0.0.1/gq\n"));
  const auto config = testing::parse_as<server_config>({});
  EXPECT_EQ(config.discord_token, "tok.from-file");
  EXPECT_EQ(config.auth_token, "auth-from-file");
  EXPECT_EQ(config.db_path, "postgresql://gq:pw@127.0.0.1/gq");
  EXPECT_TRUE(config.secrets_on_command_line.empty());
}

TEST_F(config_secret_files_test, the_file_flags_read_files_too_and_beat_the_environment) {
  env_.set("DISCORD_TOKEN", "tok-in-env");
  const auto config =
      testing::parse_as<server_config>({"--discord-token-file", write("discord", "tok-in-file\n"),
                                        "--auth-token-file=" + write("auth", "a-in-file")});
  EXPECT_EQ(config.discord_token, "tok-in-file");
  EXPECT_EQ(config.auth_token, "a-in-file");
}

TEST_F(config_secret_files_test, history_reads_its_journal_uri_from_a_file) {
  const auto uri = write("db", "postgresql://127.0.0.1/history\n");
  EXPECT_EQ(testing::parse_as<history_command>({"history", "--db-file", uri}).db_path,
            "postgresql://127.0.0.1/history");
  env_.set("QUEUE_DB_FILE", uri);
  EXPECT_EQ(testing::parse_as<history_command>({"history"}).db_path,
            "postgresql://127.0.0.1/history");
}

TEST_F(config_secret_files_test, only_one_final_newline_is_dropped) {
  env_.set("QUEUE_AUTH_TOKEN_FILE", write("auth", "two-lines\n\n"));
  const auto exit = testing::parse_exit({});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(exit.message, HasSubstr("QUEUE_AUTH_TOKEN_FILE (--auth-token-file)"));
  EXPECT_THAT(exit.message, HasSubstr("whitespace or control characters"));
  EXPECT_THAT(exit.message, Not(HasSubstr("two-lines")));
}

TEST_F(config_secret_files_test, a_missing_unreadable_or_empty_file_exits_2_naming_the_variable) {
  struct bad_file {
    std::string path;
    std::string says;
  };
  const std::vector<bad_file> cases{
      {dir_ + "/absent", "No such file or directory"},
      {dir_, "Is a directory"},
      {write("empty", ""), "is empty"},
      {write("newline-only", "\n"), "is empty"},
      {write("huge", std::string(64 * 1024 + 1, 'x')), "is larger than 65536 bytes"},
  };
  for (const char* variable : {"DISCORD_TOKEN_FILE", "QUEUE_AUTH_TOKEN_FILE", "QUEUE_DB_FILE"}) {
    for (const auto& c : cases) {
      env_.set(variable, c.path);
      const auto exit = testing::parse_exit({});
      EXPECT_EQ(exit.code, 2) << variable << " " << c.path;
      EXPECT_THAT(exit.message, HasSubstr(std::string("invalid ") + variable)) << exit.message;
      EXPECT_THAT(exit.message, HasSubstr(c.says)) << exit.message;
      env_.unset(variable);
    }
  }
  env_.set("DISCORD_TOKEN_FILE", "");
  EXPECT_THAT(testing::parse_exit({}).message,
              HasSubstr("invalid DISCORD_TOKEN_FILE (--discord-token-file): must not be empty"));
}

TEST_F(config_secret_files_test, a_value_and_its_file_at_one_level_exit_2) {
  const auto file = write("discord", "tok-in-file");
  env_.set("DISCORD_TOKEN", "tok-in-env");
  env_.set("DISCORD_TOKEN_FILE", file);
  auto exit = testing::parse_exit({});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(exit.message, HasSubstr("set DISCORD_TOKEN or DISCORD_TOKEN_FILE, not both"));
  EXPECT_THAT(exit.message, Not(HasSubstr("tok-in")));
  // A flag beats both.
  EXPECT_EQ(testing::parse_as<server_config>({"--discord-token", "tok-flag"}).discord_token,
            "tok-flag");
  env_.unset("DISCORD_TOKEN");
  env_.unset("DISCORD_TOKEN_FILE");
  exit = testing::parse_exit({"--discord-token=tok-flag", "--discord-token-file", file});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(exit.message, HasSubstr("give --discord-token or --discord-token-file, not both"));
}

TEST_F(config_secret_files_test, an_empty_token_variable_beside_its_file_counts_as_unset) {
  // docker-compose's `DISCORD_TOKEN=${DISCORD_TOKEN}` leaves an empty one on a host without it.
  env_.set("DISCORD_TOKEN", "");
  env_.set("DISCORD_TOKEN_FILE", write("discord", "tok-in-file\n"));
  EXPECT_EQ(testing::parse_as<server_config>({}).discord_token, "tok-in-file");
}

TEST_F(config_secret_files_test, tokens_given_as_flags_are_named_for_the_start_up_warning) {
  const auto config =
      testing::parse_as<server_config>({"--discord-token", "tok-flag", "--auth-token", "a-flag"});
  EXPECT_EQ(config.secrets_on_command_line,
            (std::vector<std::string>{"--discord-token", "--auth-token"}));
  env_.set("DISCORD_TOKEN", "tok-env");
  EXPECT_TRUE(testing::parse_as<server_config>({}).secrets_on_command_line.empty());
}

TEST_F(config_secret_files_test, help_lists_the_file_variables) {
  const auto exit = testing::parse_exit({"--help"});
  for (const char* name : {"--discord-token-file", "DISCORD_TOKEN_FILE", "--auth-token-file",
                           "QUEUE_AUTH_TOKEN_FILE", "--db-file", "QUEUE_DB_FILE"}) {
    EXPECT_THAT(exit.message, HasSubstr(name));
  }
}

}  // namespace
}  // namespace gq
