#pragma once
// The tables of options, one per command: every flag, environment variable, help line, bound
// and default of docs/CONFIGURATION.md, each written once. Parsing, the `_FILE` variants, the
// checks and --help are derived from them (src/app/config_option_set.hpp).

#include <vector>

#include "src/app/config.hpp"
#include "src/app/config_option_set.hpp"

namespace gq::config_detail {

// The server's options that `plan` reads as well: with a token it asks Discord for the limits.
inline constexpr option_name k_discord_token_option{"--discord-token", "DISCORD_TOKEN", "TOKEN"};
inline constexpr option_name k_discord_api_url_option{"--discord-api-url", "DISCORD_API_URL",
                                                      "URL"};

// In the order --help lists them and the checks run: the first bad value is the one reported.
std::vector<option_row<server_config>> server_options();
std::vector<option_row<history_command>> history_options();
std::vector<option_row<probe_command>> probe_options();
std::vector<option_row<plan_command>> plan_options();

}  // namespace gq::config_detail
