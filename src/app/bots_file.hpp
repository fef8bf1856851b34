#pragma once
// The bots file (QUEUE_BOTS_FILE): several bots in one queue, one `[[bot]]` TOML table each
// (docs/CONFIGURATION.md, "Several bots: the bots file"). Read at start and again on SIGHUP;
// the file is the operator's, but every key is checked, so that a typo (`daily_limt`) is an
// error instead of a silent fall back to a default.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace gq {

// Defined in src/app/config.hpp, which includes this file for server_config::bots.
enum class exhausted_policy;

// One `[[bot]]` table, as written: an unset value means the global variable applies.
struct bot_settings {
  std::string name;  // valid_bot_name() (src/core/bot.hpp), unique in the file
  // Read from discord_token_file (one trailing newline dropped): the bot's limits then come
  // from Discord. Secret: never logged or echoed.
  std::optional<std::string> discord_token;
  // Read from auth_token_file, one per line: a request bearing one of them is this bot's.
  // Secret: never logged or echoed.
  std::vector<std::string> auth_tokens;
  std::optional<std::uint32_t> max_concurrency;
  std::optional<std::uint32_t> daily_limit;
  std::optional<std::uint32_t> shard_hourly_limit;
  std::optional<std::uint32_t> reserve;
  std::optional<std::chrono::milliseconds> identify_interval;  // identify_interval_ms
  std::optional<exhausted_policy> on_exhausted;                // "hold" or "reject"
};

// Every bot of the file at `path`, in the file's order; or one line saying what is wrong and
// where ("QUEUE_BOTS_FILE <path>: line N: <what>"), which never contains a token. A bot's auth
// token equal to `operator_token` (QUEUE_AUTH_TOKEN, which may do everything) is an error too.
std::variant<std::vector<bot_settings>, std::string> read_bots_file(
    const std::string& path, const std::optional<std::string>& operator_token = std::nullopt);

}  // namespace gq
