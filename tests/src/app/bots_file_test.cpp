// The bots file (QUEUE_BOTS_FILE): docs/CONFIGURATION.md, "Several bots: the bots file".
#include "src/app/bots_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "src/app/config.hpp"

namespace gq {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class bots_file_test : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/gq-bots-file-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& contents) {
    const auto path = dir_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  // The bots of `toml`, written as the bots file; a test failure if it is refused.
  std::vector<bot_settings> bots(const std::string& toml) {
    auto result = read_bots_file(write("bots.toml", toml));
    if (auto* error = std::get_if<std::string>(&result)) {
      ADD_FAILURE() << *error;
      return {};
    }
    return std::get<std::vector<bot_settings>>(result);
  }

  // The message refusing `toml`; it is one line and begins with the variable and the path.
  std::string error(const std::string& toml,
                    const std::optional<std::string>& operator_token = std::nullopt) {
    const auto path = write("bots.toml", toml);
    auto result = read_bots_file(path, operator_token);
    if (!std::holds_alternative<std::string>(result)) {
      ADD_FAILURE() << "accepted:\n" << toml;
      return {};
    }
    const auto message = std::get<std::string>(result);
    EXPECT_THAT(message, StartsWith("QUEUE_BOTS_FILE " + path + ": "));
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }

  std::string dir_;
};

TEST_F(bots_file_test, two_bots_with_every_key_are_read_in_the_files_order) {
  write("tokens/alpha.discord", "alpha.discord-token\n");
  const auto beta_auth =
      write("beta.auth", "beta-auth-1\r\n\n   \nbeta-auth-2\nbeta-auth-1\n");  // CRLF, blanks
  write("alpha.auth", "alpha-auth");
  const auto read = bots(R"(
# Two bots in one queue.
[[bot]]
name = "alpha"
discord_token_file = "tokens/alpha.discord"  # relative: to this file's directory
auth_token_file = "alpha.auth"
on_exhausted = "reject"

[[bot]]
name = "beta_2"
auth_token_file = ")" + beta_auth +
                         R"("
max_concurrency = 16
daily_limit = 2000
identify_interval_ms = 5500
on_exhausted = "HOLD"
shard_hourly_limit = 0
reserve = 50
)");
  ASSERT_EQ(read.size(), 2u);
  const auto& alpha = read[0];
  EXPECT_EQ(alpha.name, "alpha");
  EXPECT_EQ(alpha.discord_token, "alpha.discord-token");
  EXPECT_THAT(alpha.auth_tokens, ElementsAre("alpha-auth"));
  EXPECT_EQ(alpha.on_exhausted, exhausted_policy::reject);
  EXPECT_FALSE(alpha.max_concurrency);

  const auto& beta = read[1];
  EXPECT_EQ(beta.name, "beta_2");
  EXPECT_FALSE(beta.discord_token);
  EXPECT_THAT(beta.auth_tokens, ElementsAre("beta-auth-1", "beta-auth-2"));
  EXPECT_EQ(beta.max_concurrency, 16u);
  EXPECT_EQ(beta.daily_limit, 2000u);
  EXPECT_EQ(beta.identify_interval, std::chrono::milliseconds{5500});
  EXPECT_EQ(beta.on_exhausted, exhausted_policy::hold);
  EXPECT_EQ(beta.shard_hourly_limit, 0u);
  EXPECT_EQ(beta.reserve, 50u);
}

TEST_F(bots_file_test, a_key_left_out_stays_unset_so_the_variable_applies) {
  const auto read = bots("[[bot]]\nname = \"solo\"\n");
  ASSERT_EQ(read.size(), 1u);
  const auto& bot = read[0];
  EXPECT_EQ(bot.name, "solo");
  EXPECT_FALSE(bot.discord_token);
  EXPECT_TRUE(bot.auth_tokens.empty());
  EXPECT_FALSE(bot.max_concurrency);
  EXPECT_FALSE(bot.daily_limit);
  EXPECT_FALSE(bot.shard_hourly_limit);
  EXPECT_FALSE(bot.reserve);
  EXPECT_FALSE(bot.identify_interval);
  EXPECT_FALSE(bot.on_exhausted);
}

TEST_F(bots_file_test, a_syntax_error_names_its_line) {
  EXPECT_THAT(error("[[bot]]\nname = \"a\"\nmax_concurrency = \n"), HasSubstr(": line 3: "));
  EXPECT_THAT(error("[[bot]]\nname = \"a\"\nname = \"b\"\n"), HasSubstr(": line 3: "));
}

TEST_F(bots_file_test, an_unreadable_bots_file_is_named) {
  const auto path = dir_ + "/absent.toml";
  const auto result = read_bots_file(path);
  ASSERT_TRUE(std::holds_alternative<std::string>(result));
  EXPECT_EQ(std::get<std::string>(result),
            "QUEUE_BOTS_FILE " + path + ": cannot read: No such file or directory");
}

TEST_F(bots_file_test, an_unknown_key_is_an_error_naming_it_and_its_line) {
  const auto in_bot = error("[[bot]]\nname = \"alpha\"\n\ndaily_limt = 5\n");
  EXPECT_THAT(in_bot, HasSubstr(": line 4: bot \"alpha\": unknown key \"daily_limt\""));
  // A nested table is a key of the bot as well.
  EXPECT_THAT(error("[[bot]]\nname = \"a\"\nlimits.daily = 5\n"),
              HasSubstr(": line 3: bot \"a\": unknown key \"limits\""));
  EXPECT_THAT(error("[[bot]]\nname = \"a\"\n[bot.limits]\ndaily = 5\n"),
              HasSubstr(": line 3: bot \"a\": unknown key \"limits\""));
  // Above the first [[bot]] a key is the file's, not a bot's.
  EXPECT_THAT(error("daily_limit = 5\n[[bot]]\nname = \"a\"\n"),
              HasSubstr(": line 1: unknown top-level key \"daily_limit\""));
}

TEST_F(bots_file_test, a_token_written_into_the_file_is_refused_without_echo) {
  const auto message = error("[[bot]]\nname = \"a\"\ndiscord_token = \"inline.secret.token\"\n");
  EXPECT_THAT(message, HasSubstr("line 3: bot \"a\": unknown key \"discord_token\""));
  EXPECT_THAT(message, HasSubstr("discord_token_file"));
  EXPECT_THAT(message, Not(HasSubstr("inline.secret")));
}

TEST_F(bots_file_test, a_bot_without_a_name_is_an_error_at_its_header) {
  EXPECT_THAT(error("[[bot]]\nname = \"a\"\n\n[[bot]]\ndaily_limit = 5\n"),
              HasSubstr(": line 4: [[bot]] without a name"));
}

TEST_F(bots_file_test, a_name_outside_the_rule_is_an_error) {
  for (const std::string& bad : std::vector<std::string>{
           "\"Alpha\"", "\"a b\"", "\"\"", "\"" + std::string(33, 'a') + "\"", "\"bot/1\""}) {
    EXPECT_THAT(error("[[bot]]\nname = " + bad + "\n"),
                HasSubstr(": line 2: name " + bad + " is not 1 to 32 of a-z, 0-9, _ and -"));
  }
  EXPECT_THAT(error("[[bot]]\nname = 5\n"),
              HasSubstr(": line 2: [[bot]]: name must be a string, not an integer"));
  EXPECT_FALSE(bots("[[bot]]\nname = \"" + std::string(32, 'a') + "\"\n").empty());
}

TEST_F(bots_file_test, a_name_used_twice_is_an_error_at_the_second) {
  EXPECT_THAT(error("[[bot]]\nname = \"a\"\n[[bot]]\nname = \"b\"\n[[bot]]\nname = \"a\"\n"),
              HasSubstr(": line 6: name \"a\" is already the name of the bot on line 1"));
}

TEST_F(bots_file_test, a_value_of_the_wrong_type_is_an_error) {
  const std::string head = "[[bot]]\nname = \"a\"\n";
  EXPECT_THAT(error(head + "daily_limit = \"5\"\n"),
              HasSubstr(": line 3: bot \"a\": daily_limit must be an integer between 1 and "
                        "10000000, not a string"));
  EXPECT_THAT(error(head + "max_concurrency = 5.0\n"), HasSubstr("not a float"));
  EXPECT_THAT(error(head + "reserve = true\n"), HasSubstr("not a boolean"));
  EXPECT_THAT(error(head + "on_exhausted = 1\n"),
              HasSubstr("on_exhausted must be \"hold\" or \"reject\", not an integer"));
  EXPECT_THAT(error(head + "on_exhausted = \"wait\"\n"),
              HasSubstr("on_exhausted must be \"hold\" or \"reject\", not \"wait\""));
  EXPECT_THAT(error(head + "auth_token_file = 7\n"),
              HasSubstr("auth_token_file must be a string (a path), not an integer"));
  EXPECT_THAT(error(head + "discord_token_file = \"\"\n"),
              HasSubstr("discord_token_file must not be empty"));
}

TEST_F(bots_file_test, integers_have_their_variables_bounds) {
  struct bounded {
    std::string key;
    std::int64_t min;
    std::int64_t max;
  };
  // The bounds of QUEUE_MAX_CONCURRENCY, QUEUE_DAILY_LIMIT, QUEUE_IDENTIFY_INTERVAL_MS,
  // QUEUE_SHARD_HOURLY_LIMIT and QUEUE_RESERVE (docs/CONFIGURATION.md).
  const std::vector<bounded> keys{{"max_concurrency", 1, 65536},
                                  {"daily_limit", 1, 10'000'000},
                                  {"identify_interval_ms", 1, 86'400'000},
                                  {"shard_hourly_limit", 0, 1'000'000},
                                  {"reserve", 0, 10'000'000}};
  for (const auto& k : keys) {
    SCOPED_TRACE(k.key);
    const auto with = [&](std::int64_t value) {
      return "[[bot]]\nname = \"a\"\n" + k.key + " = " + std::to_string(value) + "\n";
    };
    EXPECT_EQ(bots(with(k.min)).size(), 1u);
    EXPECT_EQ(bots(with(k.max)).size(), 1u);
    const std::string range =
        " must be an integer between " + std::to_string(k.min) + " and " + std::to_string(k.max);
    EXPECT_THAT(error(with(k.min - 1)), HasSubstr("line 3: bot \"a\": " + k.key + range + ", not " +
                                                  std::to_string(k.min - 1)));
    EXPECT_THAT(error(with(k.max + 1)), HasSubstr(range));
    EXPECT_THAT(error(with(-4'294'967'296)), HasSubstr(range));
  }
}

TEST_F(bots_file_test, an_unreadable_or_empty_token_file_names_the_bot_the_key_and_the_line) {
  write("empty", "");
  write("newline", "\n");
  write("blank-lines", "\n \r\n\t\n");
  std::filesystem::create_directories(dir_ + "/a-directory");
  struct bad_file {
    std::string written;
    std::string says;
  };
  const std::vector<bad_file> cases{{"absent", "No such file or directory"},
                                    {"a-directory", "Is a directory"},
                                    {"empty", "\"empty\""}};
  for (const char* key : {"discord_token_file", "auth_token_file"}) {
    for (const auto& c : cases) {
      EXPECT_THAT(
          error("[[bot]]\nname = \"a\"\n\n" + std::string(key) + " = \"" + c.written + "\"\n"),
          HasSubstr(": line 4: bot \"a\": "))
          << key << " " << c.written;
      EXPECT_THAT(
          error("[[bot]]\nname = \"a\"\n" + std::string(key) + " = \"" + c.written + "\"\n"),
          AllOf(HasSubstr(key), HasSubstr(c.says)));
    }
  }
  EXPECT_THAT(error("[[bot]]\nname = \"a\"\ndiscord_token_file = \"newline\"\n"),
              HasSubstr("discord_token_file \"newline\" is empty"));
  EXPECT_THAT(error("[[bot]]\nname = \"a\"\nauth_token_file = \"blank-lines\"\n"),
              HasSubstr("auth_token_file \"blank-lines\" holds no token"));
  write("huge", std::string(64 * 1024 + 1, 'x'));
  EXPECT_THAT(error("[[bot]]\nname = \"a\"\ndiscord_token_file = \"huge\"\n"),
              HasSubstr("bot \"a\": discord_token_file \"huge\": larger than 65536 bytes"));
}

TEST_F(bots_file_test, a_malformed_token_is_refused_without_echo) {
  write("discord", "Bot discord-secret\n");
  auto message = error("[[bot]]\nname = \"a\"\ndiscord_token_file = \"discord\"\n");
  EXPECT_THAT(message, HasSubstr("line 3: bot \"a\": discord_token_file \"discord\": the token "
                                 "must not contain whitespace"));
  EXPECT_THAT(message, HasSubstr("without the \"Bot \" prefix"));
  EXPECT_THAT(message, Not(HasSubstr("discord-secret")));

  write("auth", "good-auth-token\nBearer auth-secret\n");
  message = error("[[bot]]\nname = \"a\"\nauth_token_file = \"auth\"\n");
  EXPECT_THAT(message, HasSubstr("auth_token_file \"auth\", line 2: a token must not contain"));
  EXPECT_THAT(message, HasSubstr("without the \"Bearer \" prefix"));
  EXPECT_THAT(message, Not(HasSubstr("auth-secret")));
  EXPECT_THAT(message, Not(HasSubstr("good-auth-token")));
}

TEST_F(bots_file_test, an_auth_token_of_two_bots_is_an_error_naming_both_bots_not_the_token) {
  write("a.auth", "only-a\nshared-secret-token\n");
  write("b.auth", "only-b\r\nshared-secret-token\r\n");
  const auto message = error(
      "[[bot]]\nname = \"a\"\nauth_token_file = \"a.auth\"\n"
      "[[bot]]\nname = \"b\"\nauth_token_file = \"b.auth\"\n");
  EXPECT_THAT(message, HasSubstr(": line 6: bot \"b\" and bot \"a\" (line 3) share an auth token"));
  EXPECT_THAT(message, Not(HasSubstr("shared-secret")));
}

TEST_F(bots_file_test, a_discord_token_of_two_bots_is_an_error_naming_both_bots_not_the_token) {
  write("a.discord", "shared-discord-secret\n");
  write("b.discord", "shared-discord-secret");  // no final newline: the same token
  write("c.discord", "other-discord-secret\n");
  const std::string a = "[[bot]]\nname = \"a\"\ndiscord_token_file = \"a.discord\"\n";
  const auto message = error(a + "[[bot]]\nname = \"c\"\ndiscord_token_file = \"c.discord\"\n" +
                             "[[bot]]\nname = \"b\"\ndiscord_token_file = \"b.discord\"\n");
  EXPECT_THAT(message,
              HasSubstr(": line 9: bot \"b\" and bot \"a\" (line 3) share a Discord token"));
  EXPECT_THAT(message, Not(HasSubstr("discord-secret")));
  write("bots.toml", a + "[[bot]]\nname = \"c\"\ndiscord_token_file = \"c.discord\"\n");
  EXPECT_EQ(std::get<std::vector<bot_settings>>(read_bots_file(dir_ + "/bots.toml")).size(), 2u);
}

TEST_F(bots_file_test, a_bot_cannot_hold_the_operators_token) {
  write("a.auth", "bot-token\noperator-secret\n");
  const std::string file = "[[bot]]\nname = \"a\"\nauth_token_file = \"a.auth\"\n";
  const auto message = error(file, "operator-secret");
  EXPECT_THAT(message,
              HasSubstr(": line 3: bot \"a\": auth_token_file holds the operator's token"));
  EXPECT_THAT(message, Not(HasSubstr("operator-secret")));
  EXPECT_EQ(
      std::get<std::vector<bot_settings>>(read_bots_file(dir_ + "/bots.toml", "other")).size(), 1u);
}

TEST_F(bots_file_test, a_file_without_a_bot_is_an_error) {
  for (const std::string& empty : std::vector<std::string>{"", "# nothing yet\n", "bot = []\n"}) {
    EXPECT_THAT(error(empty), HasSubstr(": no [[bot]] table: the file must name at least one bot"))
        << empty;
  }
  EXPECT_THAT(error("[bot]\nname = \"a\"\n"),
              HasSubstr(": line 1: bot must be [[bot]] tables, not a table"));
  EXPECT_THAT(error("bot = [1, 2]\n"), HasSubstr(": line 1: bot must be [[bot]] tables"));
}

TEST_F(bots_file_test, control_characters_in_the_file_stay_escaped_in_the_message) {
  EXPECT_THAT(error("[[bot]]\nname = \"a\\u001b[31m\"\n"), HasSubstr("\\x1b[31m"));
}

}  // namespace
}  // namespace gq
