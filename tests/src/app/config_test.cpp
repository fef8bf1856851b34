#include "src/app/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "src/app/command_line.hpp"
#include "src/core/version.hpp"
#include "support/env_guard.hpp"

namespace gq {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class config_test : public ::testing::Test {
 protected:
  static command parse(const std::vector<std::string>& args) { return testing::parse_args(args); }
  static server_config parse_config(const std::vector<std::string>& args) {
    return testing::parse_as<server_config>(args);
  }
  static exit_request parse_exit(const std::vector<std::string>& args) {
    return testing::parse_exit(args);
  }

  testing::env_guard env_;
};

// One row per variable: a valid value and how to read it back, and values that must be refused.
struct variable_case {
  const char* env;
  const char* flag;
  std::string good;
  std::string other_good;  // differs from `good`, to show that the flag wins
  std::function<std::string(const server_config&)> read;
  std::vector<std::string> bad;
  bool secret = false;
};

std::string text(std::uint64_t v) { return std::to_string(v); }

std::vector<variable_case> variable_cases() {
  const std::vector<std::string> junk{"abc", "5000abc", " 5000", "5000 ", "5e3",
                                      "-1",  "+5",      "0x10",  "",      "1.5"};
  auto numeric = [&](std::string min_minus_one, std::string max_plus_one) {
    auto bad = junk;
    bad.push_back(std::move(min_minus_one));
    bad.push_back(std::move(max_plus_one));
    bad.push_back("99999999999999999999999");
    return bad;
  };
  return {
      {"HOST",
       "--host",
       "0.0.0.0",
       "::1",
       [](auto& c) { return c.host; },
       {"", "a b", "host\n", "[::1]", "\t"}},
      {"PORT", "--port", "1", "65535", [](auto& c) { return text(c.port); }, numeric("0", "65536")},
      {"DISCORD_TOKEN",
       "--discord-token",
       "tok.en-1",
       "tok.en-2",
       [](auto& c) { return c.discord_token.value_or("<unset>"); },
       {"Bot tok", "tok en", "tok\n", "tok\t"},
       true},
      {"DISCORD_API_URL",
       "--discord-api-url",
       "http://127.0.0.1:9/api",
       "https://discord.com/api/v9",
       [](auto& c) { return c.discord_api_url; },
       {"", "discord.com/api", "ftp://discord.com", "http://", "https://:443/api", "http://h:0/",
        "http://h:65536/", "http://h:x/", "http://h/a b", "http://h/?q=1"}},
      {"QUEUE_DB", "--db", "/tmp/a.db", "b.db", [](auto& c) { return c.db_path; }, {""}},
      {"QUEUE_IDENTIFY_INTERVAL_MS", "--identify-interval-ms", "1", "86400000",
       [](auto& c) { return text(c.identify_interval.count()); }, numeric("0", "86400001")},
      {"QUEUE_MAX_CONCURRENCY", "--max-concurrency", "16", "65536",
       [](auto& c) { return text(c.max_concurrency); }, numeric("0", "65537")},
      {"QUEUE_DAILY_LIMIT", "--daily-limit", "1", "10000000",
       [](auto& c) { return text(c.daily_limit); }, numeric("0", "10000001")},
      {"QUEUE_REFRESH_INTERVAL_S", "--refresh-interval-s", "1", "86400",
       [](auto& c) { return text(c.refresh_interval.count()); }, numeric("0", "86401")},
      {"QUEUE_ON_EXHAUSTED",
       "--on-exhausted",
       "reject",
       "hold",
       [](auto& c) { return c.on_exhausted == exhausted_policy::hold ? "hold" : "reject"; },
       {"", "wait", "hold ", "rejected"}},
      {"QUEUE_MAX_WAITING", "--max-waiting", "1", "10000000",
       [](auto& c) { return text(c.max_waiting); }, numeric("0", "10000001")},
      {"QUEUE_AUTH_TOKEN",
       "--auth-token",
       "s3cret-1",
       "s3cret-2",
       [](auto& c) { return c.auth_token.value_or("<unset>"); },
       {"Bearer s3cret", "s3 cret", "s3cret\r\n"},
       true},
      {"QUEUE_RETENTION_DAYS", "--retention-days", "1", "36500",
       [](auto& c) { return text(c.retention_days); }, numeric("0", "36501")},
      {"QUEUE_REQUEST_TIMEOUT_S", "--request-timeout-s", "1", "3600",
       [](auto& c) { return text(c.request_timeout.count()); }, numeric("0", "3601")},
      {"QUEUE_IDLE_TIMEOUT_S", "--idle-timeout-s", "1", "86400",
       [](auto& c) { return text(c.idle_timeout.count()); }, numeric("0", "86401")},
      {"QUEUE_LOG_FORMAT",
       "--log-format",
       "json",
       "text",
       [](auto& c) { return c.log_format_ == log_format::json ? "json" : "text"; },
       {"", "yaml", "json\n"}},
      {"QUEUE_LOG_LEVEL",
       "--log-level",
       "error",
       "debug",
       [](auto& c) {
         switch (c.log_level_) {
           case log_level::debug:
             return "debug";
           case log_level::info:
             return "info";
           case log_level::warn:
             return "warn";
           case log_level::error:
             return "error";
         }
         return "?";
       },
       {"", "verbose", "warning", "trace"}},
  };
}

TEST_F(config_test, defaults_match_the_documented_table) {
  const auto config = parse_config({});
  EXPECT_EQ(config.host, "127.0.0.1");
  EXPECT_EQ(config.port, 5000);
  EXPECT_FALSE(config.discord_token);
  EXPECT_EQ(config.discord_api_url, "https://discord.com/api/v10");
  EXPECT_EQ(config.db_path, "gateway-queue.db");
  EXPECT_EQ(config.identify_interval, std::chrono::milliseconds{5000});
  EXPECT_EQ(config.max_concurrency, 1u);
  EXPECT_EQ(config.daily_limit, 1000u);
  EXPECT_EQ(config.refresh_interval, std::chrono::seconds{300});
  EXPECT_EQ(config.on_exhausted, exhausted_policy::hold);
  EXPECT_EQ(config.max_waiting, 100000u);
  EXPECT_FALSE(config.auth_token);
  EXPECT_EQ(config.retention_days, 30u);
  EXPECT_EQ(config.request_timeout, std::chrono::seconds{10});
  EXPECT_EQ(config.idle_timeout, std::chrono::seconds{60});
  EXPECT_EQ(config.log_format_, log_format::text);
  EXPECT_EQ(config.log_level_, log_level::info);
}

TEST_F(config_test, every_variable_is_read_from_the_environment) {
  for (const auto& c : variable_cases()) {
    testing::env_guard guard;
    guard.set(c.env, c.good);
    EXPECT_EQ(c.read(parse_config({})), c.good) << c.env;
  }
}

TEST_F(config_test, every_variable_is_read_from_its_flag_in_both_spellings) {
  for (const auto& c : variable_cases()) {
    EXPECT_EQ(c.read(parse_config({c.flag, c.good})), c.good) << c.flag;
    EXPECT_EQ(c.read(parse_config({std::string(c.flag) + "=" + c.good})), c.good) << c.flag;
  }
}

TEST_F(config_test, a_flag_beats_the_environment) {
  for (const auto& c : variable_cases()) {
    testing::env_guard guard;
    guard.set(c.env, c.other_good);
    EXPECT_EQ(c.read(parse_config({std::string(c.flag) + "=" + c.good})), c.good) << c.flag;
  }
}

TEST_F(config_test, a_malformed_value_exits_2_naming_variable_and_flag) {
  for (const auto& c : variable_cases()) {
    for (const auto& bad : c.bad) {
      for (bool from_env : {true, false}) {
        testing::env_guard guard;
        std::vector<std::string> args;
        if (from_env) {
          guard.set(c.env, bad);
        } else {
          args = {c.flag, bad};
        }
        const auto exit = parse_exit(args);
        const auto where = std::string(c.env) + "=" + bad + (from_env ? " (env)" : " (flag)");
        EXPECT_EQ(exit.code, 2) << where;
        EXPECT_THAT(exit.message, HasSubstr(std::string("invalid ") + c.env + " (" + c.flag + ")"))
            << where;
        EXPECT_EQ(exit.message.find('\n'), std::string::npos) << where << ": " << exit.message;
        if (c.secret) {
          EXPECT_THAT(exit.message, Not(HasSubstr(bad))) << where;
        }
      }
    }
  }
}

TEST_F(config_test, numeric_message_quotes_the_value_and_states_the_range) {
  env_.set("QUEUE_IDENTIFY_INTERVAL_MS", "abc");
  EXPECT_EQ(parse_exit({}).message,
            "invalid QUEUE_IDENTIFY_INTERVAL_MS (--identify-interval-ms): \"abc\" is not an "
            "integer between 1 and 86400000");
}

TEST_F(config_test, leading_zeros_are_plain_decimal) {
  EXPECT_EQ(parse_config({"--port", "08080"}).port, 8080);
}

TEST_F(config_test, control_characters_in_a_value_are_escaped_in_the_message) {
  const auto exit = parse_exit({"--port=50\n00\x1b"});
  EXPECT_THAT(exit.message, HasSubstr(R"("50\x0a00\x1b")"));
}

TEST_F(config_test, empty_secrets_count_as_unset) {
  env_.set("DISCORD_TOKEN", "");
  env_.set("QUEUE_AUTH_TOKEN", "");
  const auto config = parse_config({});
  EXPECT_FALSE(config.discord_token);
  EXPECT_FALSE(config.auth_token);
  EXPECT_FALSE(parse_config({"--discord-token", ""}).discord_token);
}

TEST_F(config_test, a_bot_prefixed_token_is_refused_with_a_hint_but_not_echoed) {
  env_.set("DISCORD_TOKEN", "Bot MTIzNDU2.secret");
  const auto exit = parse_exit({});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(exit.message, HasSubstr("without the \"Bot \" prefix"));
  EXPECT_THAT(exit.message, Not(HasSubstr("MTIzNDU2")));
}

TEST_F(config_test, api_url_with_credentials_is_refused_without_echo) {
  const auto exit = parse_exit({"--discord-api-url", "https://user:hunter2@discord.com/api"});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(exit.message, Not(HasSubstr("hunter2")));
}

TEST_F(config_test, api_url_accepts_ports_ipv6_and_a_trailing_slash) {
  for (const char* url : {"http://127.0.0.1:8080", "https://discord.com/api/v10/",
                          "http://[::1]:9000/api", "http://proxy:3000/api/v10"}) {
    EXPECT_EQ(parse_config({"--discord-api-url", url}).discord_api_url, url);
  }
}

TEST_F(config_test, choices_ignore_case) {
  const auto config =
      parse_config({"--log-level=WARN", "--log-format=JSON", "--on-exhausted=Reject"});
  EXPECT_EQ(config.log_level_, log_level::warn);
  EXPECT_EQ(config.log_format_, log_format::json);
  EXPECT_EQ(config.on_exhausted, exhausted_policy::reject);
}

TEST_F(config_test, unknown_flags_and_stray_arguments_exit_2) {
  const auto unknown = parse_exit({"--frobnicate=1", "stray"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(unknown.message,
            "unexpected arguments: unknown option --frobnicate and 2 values (not shown); "
            "see --help");
  EXPECT_EQ(parse_exit({"history", "--frobnicate"}).code, 2);
}

TEST_F(config_test, a_flag_without_its_value_exits_2_naming_the_variable) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--port"}, {"--port="}}) {
    const auto exit = parse_exit(args);
    EXPECT_EQ(exit.code, 2);
    EXPECT_EQ(exit.message, "invalid PORT (--port): a value is required");
  }
}

TEST_F(config_test, the_last_of_a_repeated_flag_wins) {
  EXPECT_EQ(parse_config({"--port", "1", "--port", "2"}).port, 2);
}

TEST_F(config_test, cli11_messages_never_echo_a_mistyped_token) {
  env_.set("DISCORD_TOKEN", "env-secret-value");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--discord-tokn=flag-secret-value"},
           {"--discord-tokn", "flag-secret-value"},
           {"--auth-tokn", "flag-secret-value", "env-secret-value"}}) {
    const auto exit = parse_exit(args);
    EXPECT_EQ(exit.code, 2);
    EXPECT_THAT(exit.message, Not(HasSubstr("secret-value"))) << exit.message;
  }
}

TEST_F(config_test, help_exits_0_and_lists_every_flag_variable_and_default) {
  const auto exit = parse_exit({"--help"});
  EXPECT_EQ(exit.code, 0);
  for (const auto& c : variable_cases()) {
    EXPECT_THAT(exit.message, HasSubstr(c.flag));
    EXPECT_THAT(exit.message, HasSubstr(c.env));
  }
  for (const char* shown :
       {"=127.0.0.1 ", "=5000 ", "=https://discord.com/api/v10 ", "=gateway-queue.db ", "=300 ",
        "=hold ", "=100000 ", "=30 ", "=10 ", "=60 ", "=text ", "=info ", "history"}) {
    EXPECT_THAT(exit.message, HasSubstr(shown));
  }
}

TEST_F(config_test, help_never_shows_a_configured_secret) {
  env_.set("DISCORD_TOKEN", "tok-in-env");
  env_.set("QUEUE_AUTH_TOKEN", "auth-in-env");
  const auto exit = parse_exit({"--help"});
  EXPECT_THAT(exit.message, Not(HasSubstr("tok-in-env")));
  EXPECT_THAT(exit.message, Not(HasSubstr("auth-in-env")));
}

TEST_F(config_test, version_exits_0) {
  const auto exit = parse_exit({"--version"});
  EXPECT_EQ(exit.code, 0);
  EXPECT_EQ(exit.message, version_line());
}

TEST_F(config_test, version_names_the_build_and_its_commit) {
  const std::string commit(build_commit());
  EXPECT_EQ(version_line(), "gateway-queue " + std::string(build_version()) + " (commit " + commit +
                                (commit == "unknown" ? ": built outside a git checkout" : "") +
                                ")");
  // Built from this repository's checkout, as every test build is: a real 40-digit hash.
  EXPECT_THAT(commit, ::testing::MatchesRegex("[0-9a-f]{40}"));
}

// Found by tests/fuzz/config_fuzz.cpp: CLI11's own message for a value given to a flag that
// takes none, and the list of unknown flags, quoted them raw, newline and control bytes
// included, so the error spanned lines.
TEST_F(config_test, cli11_errors_are_one_printable_line_whatever_the_argument_holds) {
  for (const std::string arg : {"--version=\x02\x02\x01\n", "--version=a\nb", "--version=\x1b[2J",
                                "--si\n]&)", "--unknown\x1b[2J", "--si\xb2\xff\xff*jso"}) {
    const auto exit = parse_exit({arg});
    EXPECT_EQ(exit.code, 2) << exit.message;
    EXPECT_EQ(exit.message.find('\n'), std::string::npos) << exit.message;
    for (const unsigned char c : exit.message) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << int(c) << " in: " << exit.message;
    }
  }
}

// Found by config_fuzz: an argument after --discord-token that CLI11 takes for an unknown option
// (it starts with --) was named raw in the error, bytes beyond ASCII and all.
TEST_F(config_test, a_token_taken_for_an_unknown_option_is_not_echoed_raw) {
  const std::string token_like = "--si\xb2\xff\xff*jso";
  const auto exit = parse_exit({"--refresh-interval-s", "--discord-token", token_like, "", ""});
  EXPECT_EQ(exit.code, 2) << exit.message;
  EXPECT_EQ(exit.message.find(token_like), std::string::npos) << exit.message;
}

}  // namespace
}  // namespace gq
