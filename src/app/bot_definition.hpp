#pragma once
// A bot as the server runs it: every setting resolved (a bots file's value, else the global
// variable's). Without a bots file there is one, `default`, made of the variables alone.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/app/bots_file.hpp"
#include "src/app/config.hpp"

namespace gq {

struct bot_definition {
  std::string name{k_default_bot};
  std::optional<std::string> discord_token;  // secret: limits come from Discord with it
  std::vector<std::string> auth_tokens;      // secret: whoever holds one acts for this bot
  std::uint32_t max_concurrency = k_default_max_concurrency;
  std::uint32_t daily_limit = k_default_daily_limit;
  std::chrono::milliseconds identify_interval = k_default_identify_interval;
  exhausted_policy on_exhausted = exhausted_policy::hold;
  std::uint32_t shard_hourly_limit = k_default_shard_hourly_limit;
  std::optional<std::uint32_t> reserve;

  friend bool operator==(const bot_definition&, const bot_definition&) = default;
};

// The bots `config` describes: its bots file's, read at start (server_config::bots), or the
// default bot of the variables.
std::vector<bot_definition> bot_definitions(const server_config& config);
// The bots of a bots file read again (a reload), each setting it leaves out from the variables.
std::vector<bot_definition> bot_definitions(const server_config& config,
                                            const std::vector<bot_settings>& bots_file);

}  // namespace gq
