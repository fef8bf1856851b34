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

bot_definition resolve(const bot_settings& settings, const server_config& config) {
  // The variables give every default, but not the variables' Discord token: a bot's limits come
  // from Discord only with a token of its own.
  bot_definition bot = from_variables(config);
  bot.name = settings.name;
  bot.discord_token = settings.discord_token;
  bot.auth_tokens = settings.auth_tokens;
  bot.max_concurrency = settings.max_concurrency.value_or(bot.max_concurrency);
  bot.daily_limit = settings.daily_limit.value_or(bot.daily_limit);
  bot.identify_interval = settings.identify_interval.value_or(bot.identify_interval);
  bot.on_exhausted = settings.on_exhausted.value_or(bot.on_exhausted);
  bot.shard_hourly_limit = settings.shard_hourly_limit.value_or(bot.shard_hourly_limit);
  if (settings.reserve) bot.reserve = settings.reserve;
  return bot;
}

std::vector<bot_definition> bot_definitions(const server_config& config) {
  return bot_definitions(config, config.bots);
}

std::vector<bot_definition> bot_definitions(const server_config& config,
                                            const std::vector<bot_settings>& bots_file) {
  if (!config.bots_file) return {from_variables(config)};
  std::vector<bot_definition> bots;
  for (const auto& settings : bots_file) bots.push_back(resolve(settings, config));
  return bots;
}

}  // namespace gq
