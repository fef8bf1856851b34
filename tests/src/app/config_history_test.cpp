#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/app/command_line.hpp"
#include "src/app/config.hpp"
#include "support/env_guard.hpp"

// `gateway-queue history`: the same filter rules as GET /history.

namespace gq {
namespace {

using ::testing::HasSubstr;

class config_history_test : public ::testing::Test {
 protected:
  static command parse(const std::vector<std::string>& args) { return testing::parse_args(args); }
  static exit_request parse_exit(const std::vector<std::string>& args) {
    return testing::parse_exit(args);
  }

  testing::env_guard env_;
};

history_command parse_history(const std::vector<std::string>& args) {
  return testing::parse_as<history_command>(args);
}

TEST_F(config_history_test, defaults) {
  const auto history = parse_history({"history"});
  EXPECT_EQ(history.db_path, "gateway-queue.db");
  EXPECT_FALSE(history.filter.shard);
  EXPECT_FALSE(history.filter.since);
  EXPECT_FALSE(history.filter.until);
  EXPECT_EQ(history.filter.limit, 100u);
  EXPECT_FALSE(history.filter.bot) << "every bot's grants";
}

TEST_F(config_history_test, reads_every_filter) {
  const auto history =
      parse_history({"history", "--db", "x.db", "--shard", "9223372036854775807", "--since=5",
                     "--until=5", "--limit", "10000", "--bot", "alpha-2_b"});
  EXPECT_EQ(history.db_path, "x.db");
  EXPECT_EQ(history.filter.bot, "alpha-2_b");
  EXPECT_EQ(history.filter.shard, 9223372036854775807ull);
  EXPECT_EQ(history.filter.since, 5);
  EXPECT_EQ(history.filter.until, 5);
  EXPECT_EQ(history.filter.limit, 10000u);
}

// The query string's rule for a decimal integer, shared: leading zeros are allowed, and the
// largest is 2^63 - 1, which SQLite can store.
TEST_F(config_history_test, integers_follow_the_rule_of_the_query_string) {
  EXPECT_EQ(parse_history({"history", "--shard", "0009223372036854775807"}).filter.shard,
            9223372036854775807ull);
  for (const char* too_large : {"9223372036854775808", "18446744073709551616"}) {
    const auto exit = parse_exit({"history", "--shard", too_large});
    EXPECT_EQ(exit.code, 2) << too_large;
    EXPECT_THAT(exit.message, HasSubstr("is not an integer between 0 and 9223372036854775807"));
  }
}

TEST_F(config_history_test, db_comes_from_flag_env_or_the_parent_flag) {
  env_.set("QUEUE_DB", "env.db");
  EXPECT_EQ(parse_history({"history"}).db_path, "env.db");
  EXPECT_EQ(parse_history({"history", "--db", "flag.db"}).db_path, "flag.db");
  EXPECT_EQ(parse_history({"--db", "parent.db", "history"}).db_path, "parent.db");
}

TEST_F(config_history_test, ignores_server_variables) {
  env_.set("PORT", "not-a-port");
  EXPECT_EQ(parse_history({"history"}).filter.limit, 100u);
}

TEST_F(config_history_test, rejects_malformed_filters) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--shard", "9223372036854775808"},
                                                                {"--shard=-1"},
                                                                {"--shard", "1x"},
                                                                {"--since", "1.5"},
                                                                {"--until=+3"},
                                                                {"--limit", "0"},
                                                                {"--limit", "10001"},
                                                                {"--limit="},
                                                                {"--since", "10", "--until", "9"},
                                                                {"--db="}}) {
    auto full = args;
    full.insert(full.begin(), "history");
    const auto exit = parse_exit(full);
    EXPECT_EQ(exit.code, 2) << args[0];
    EXPECT_THAT(exit.message, HasSubstr(args[0].substr(0, args[0].find('='))));
  }
}

// A bot's name as the bots file and GET /history?bot= allow it: [a-z0-9_-]{1,32}.
TEST_F(config_history_test, a_bad_bot_name_exits_2_naming_the_rule) {
  EXPECT_EQ(parse_history({"history", "--bot", std::string(32, 'z')}).filter.bot,
            std::string(32, 'z'));
  for (const std::string& bad : std::vector<std::string>{
           "Alpha", "a b", "a/b", "a.b", "\xc3\xa9t\xc3\xa9", std::string(33, 'a')}) {
    const auto exit = parse_exit({"history", "--bot=" + bad});
    EXPECT_EQ(exit.code, 2) << bad;
    EXPECT_THAT(exit.message, HasSubstr("invalid --bot: ")) << bad;
    EXPECT_THAT(exit.message, HasSubstr("is not a bot name: 1 to 32 of a-z, 0-9, _ and -")) << bad;
  }
  EXPECT_EQ(parse_exit({"history", "--bot="}).message, "invalid --bot: a value is required");
  EXPECT_EQ(parse_exit({"history", "--bot", "Alpha"}).message,
            "invalid --bot: \"Alpha\" is not a bot name: 1 to 32 of a-z, 0-9, _ and -");
}

TEST_F(config_history_test, help_lists_the_filters) {
  const auto exit = parse_exit({"history", "--help"});
  EXPECT_EQ(exit.code, 0);
  for (const char* flag :
       {"--db", "QUEUE_DB", "--bot", "--shard", "--since", "--until", "--limit"}) {
    EXPECT_THAT(exit.message, HasSubstr(flag));
  }
}

TEST_F(config_history_test, message_names_the_flag_and_the_range) {
  EXPECT_EQ(parse_exit({"history", "--limit", "0"}).message,
            "invalid --limit: \"0\" is not an integer between 1 and 10000");
}

}  // namespace
}  // namespace gq
