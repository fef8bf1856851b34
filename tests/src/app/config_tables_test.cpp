// The option tables: what --help states of a bound is what the check applies, for every bounded
// option of every command.
#include "src/app/config_tables.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/app/command_line.hpp"
#include "support/env_guard.hpp"

namespace gq {
namespace {

using ::testing::HasSubstr;

template <class Target>
void expect_bounds_as_documented(const std::vector<config_detail::option_row<Target>>& rows,
                                 const std::vector<std::string>& command) {
  std::vector<std::string> help_args = command;
  help_args.push_back("--help");
  const auto help = testing::parse_exit(help_args).message;
  for (const auto& row : rows) {
    if (!row.rule.range) continue;
    const auto [min, max] = *row.rule.range;
    const std::string flag = row.name.flag;
    SCOPED_TRACE(flag);
    // Some of `plan`'s lines leave the bounds out: they name where the value comes from instead.
    if (std::string_view(row.help).find("{range}") != std::string_view::npos) {
      EXPECT_THAT(help, HasSubstr(std::to_string(min) + ".." + std::to_string(max)));
    }
    const auto with = [&](std::uint64_t value) {
      auto args = command;
      args.push_back(flag + "=" + std::to_string(value));
      return testing::parse_args(args);
    };
    EXPECT_FALSE(std::holds_alternative<exit_request>(with(min)));
    EXPECT_FALSE(std::holds_alternative<exit_request>(with(max)));
    const std::string range = "between " + std::to_string(min) + " and " + std::to_string(max);
    const auto above = with(max + 1);
    ASSERT_TRUE(std::holds_alternative<exit_request>(above));
    EXPECT_THAT(std::get<exit_request>(above).message, HasSubstr(range));
    if (min > 0) {
      const auto below = with(min - 1);
      ASSERT_TRUE(std::holds_alternative<exit_request>(below));
      EXPECT_THAT(std::get<exit_request>(below).message, HasSubstr(range));
    }
  }
}

TEST(config_tables, help_states_the_bounds_the_server_checks) {
  testing::env_guard env;
  expect_bounds_as_documented(config_detail::server_options(), {});
}

TEST(config_tables, help_states_the_bounds_the_subcommands_check) {
  testing::env_guard env;
  expect_bounds_as_documented(config_detail::history_options(), {"history"});
  expect_bounds_as_documented(config_detail::probe_options(), {"probe"});
  expect_bounds_as_documented(config_detail::plan_options(), {"plan", "--shards", "1"});
}

TEST(config_tables, every_bounded_server_option_states_its_bounds_in_its_help_line) {
  for (const auto& row : config_detail::server_options()) {
    if (row.rule.range) {
      EXPECT_THAT(row.help, HasSubstr("{range}")) << row.name.flag;
    }
  }
}

}  // namespace
}  // namespace gq
