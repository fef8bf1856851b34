#pragma once
// The tables of options, one per command: every flag, environment variable, help line, bound
// and default of docs/CONFIGURATION.md, each written once. Parsing, the `_FILE` variants, the
// checks and --help are derived from them (src/app/config_option_set.hpp).

#include <cstdint>
#include <vector>

#include "src/app/config.hpp"
#include "src/app/config_option_set.hpp"
#include "src/app/discord_client.hpp"

namespace gq::config_detail {

// The server's options that `plan` reads as well: with a token it asks Discord for the limits.
inline constexpr option_name k_discord_token_option{"--discord-token", "DISCORD_TOKEN", "TOKEN"};
inline constexpr option_name k_discord_api_url_option{"--discord-api-url", "DISCORD_API_URL",
                                                      "URL"};
// Options that `plan --bot` lets a bot of the bots file stand in for, unless given as flags.
inline constexpr option_name k_plan_interval_option{"--interval-ms", "QUEUE_IDENTIFY_INTERVAL_MS",
                                                    "MS"};
inline constexpr option_name k_on_exhausted_option{"--on-exhausted", "QUEUE_ON_EXHAUSTED",
                                                   "POLICY"};
inline constexpr option_name k_reserve_option{"--reserve", "QUEUE_RESERVE", "N"};
inline constexpr option_name k_bots_file_option{"--bots-file", "QUEUE_BOTS_FILE", "PATH"};

// Bounds and choices that more than one option shares, or that the bots file's keys check as
// their variables do (src/app/bots_file_values.cpp).
inline constexpr std::uint64_t k_max_daily_limit = 10'000'000;
inline constexpr bounds k_interval_bounds{1, 86'400'000};
inline constexpr bounds k_concurrency_bounds{1, k_max_buckets};
inline constexpr bounds k_daily_limit_bounds{1, k_max_daily_limit};
// Session starts kept back or left: at most the daily total.
inline constexpr bounds k_session_starts_bounds{0, k_max_daily_limit};
inline constexpr bounds k_shard_hourly_limit_bounds{0, 1'000'000};
inline const choice_list<exhausted_policy> k_exhausted_choices{
    {"hold", exhausted_policy::hold}, {"reject", exhausted_policy::reject}};

// In the order --help lists them and the checks run: the first bad value is the one reported.
std::vector<option_row<server_config>> server_options();
std::vector<option_row<history_command>> history_options();
std::vector<option_row<probe_command>> probe_options();
std::vector<option_row<plan_command>> plan_options();

}  // namespace gq::config_detail
