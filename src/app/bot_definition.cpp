#include "src/app/bot_definition.hpp"

namespace gq {

namespace {

bot_definition from_variables(const server_config& config) {
  bot_definition bot;
  bot.discord_token = config.discord_token;
  bot.max_concurrency = config.max_concurrency;
  bot.daily_limit = config.daily_limit;
  bot.identify_interval = config.identify_interval;
  bot.on_exhausted = config.on_exhausted;
  bot.shard_hourly_limit = config.shard_hourly_limit;
  bot.reserve = config.reserve;
  return bot;
}

}  // namespace

std::vector<bot_definition> bot_definitions(const server_config& config) {
  return {from_variables(config)};
}

}  // namespace gq
