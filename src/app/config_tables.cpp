#include "src/app/config_tables.hpp"

#include <chrono>
#include <cstdint>
#include <limits>

#include "src/app/discord_client.hpp"
#include "src/core/records.hpp"

namespace gq::config_detail {
namespace {

// Bounds and names that the server and a subcommand share (more in config_tables.hpp).
constexpr bounds k_port_bounds{1, std::numeric_limits<std::uint16_t>::max()};

constexpr option_name k_host_option{"--host", "HOST", "ADDRESS"};
constexpr option_name k_port_option{"--port", "PORT", "PORT"};
constexpr const char* k_interval_env = "QUEUE_IDENTIFY_INTERVAL_MS";
constexpr const char* k_interval_help = "Spacing of grants within one bucket, {range} ms";
constexpr option_name k_max_concurrency_option{"--max-concurrency", "QUEUE_MAX_CONCURRENCY", "N"};
constexpr option_name k_daily_limit_option{"--daily-limit", "QUEUE_DAILY_LIMIT", "N"};

// The journal's location: the server's and `history`'s.
template <class Target>
option_row<Target> journal_option() {
  return {{"--db", "QUEUE_DB", "PATH"},
          "SQLite journal file or postgresql:// URI",
          path(&Target::db_path),
          value_file::accepted};
}

}  // namespace

std::vector<option_row<server_config>> server_options() {
  using c = server_config;
  return {
      {k_host_option, "Bind address: an IP literal (no brackets) or a host name", host(&c::host)},
      {k_port_option, "Bind port, {range}", integer(&c::port, k_port_bounds)},
      {k_discord_token_option, "Bot token (without \"Bot \"); when set, limits come from Discord",
       secret(&c::discord_token, k_bot_token_scheme), value_file::accepted},
      {k_discord_api_url_option, "API base, http(s)://host[:port][/path]; GET {base}/gateway/bot",
       api_url(&c::discord_api_url)},
      journal_option<c>(),
      {k_bots_file_option,
       "Several bots: a TOML file, one [[bot]] table each (unset: one bot, `default`, configured "
       "by these options)",
       path(&c::bots_file)},
      {{"--identify-interval-ms", k_interval_env, "MS"},
       k_interval_help,
       integer(&c::identify_interval, k_interval_bounds)},
      {k_max_concurrency_option, "Buckets when no token is set, {range}",
       integer(&c::max_concurrency, k_concurrency_bounds)},
      {k_daily_limit_option, "Session starts per 24 h when no token is set, {range}",
       integer(&c::daily_limit, k_daily_limit_bounds)},
      {{"--refresh-interval-s", "QUEUE_REFRESH_INTERVAL_S", "SECONDS"},
       "How often limits are re-read from Discord, {range} s",
       integer(&c::refresh_interval, {1, 86'400})},
      {k_on_exhausted_option,
       "Daily limit used up: hold (waiters wait for the reset) or reject (429)",
       choice(&c::on_exhausted, k_exhausted_choices)},
      {{"--max-waiting", "QUEUE_MAX_WAITING", "N"},
       "Waiters held at once, {range}; more get 503",
       integer(&c::max_waiting, {1, 10'000'000})},
      {{"--auth-token", "QUEUE_AUTH_TOKEN", "TOKEN"},
       "When set, requests need 'Authorization: Bearer <it>' (/health, /ready excepted)",
       secret(&c::auth_token, "Bearer "),
       value_file::accepted},
      {{"--request-timeout-s", "QUEUE_REQUEST_TIMEOUT_S", "SECONDS"},
       "A request must arrive whole this long after it began (else 408), {range} s",
       integer(&c::request_timeout, {1, 3'600})},
      {{"--idle-timeout-s", "QUEUE_IDLE_TIMEOUT_S", "SECONDS"},
       "A keep-alive connection with no request closes after this, {range} s",
       integer(&c::idle_timeout, {1, 86'400})},
      {{"--retention-days", "QUEUE_RETENTION_DAYS", "DAYS"},
       "Journal rows older than this are pruned, {range} days",
       integer(&c::retention_days, {1, 36'500})},
      {{"--shard-hourly-limit", "QUEUE_SHARD_HOURLY_LIMIT", "N"},
       "Loop guard: grants per shard per hour before 429, {range} (0: off)",
       integer(&c::shard_hourly_limit, k_shard_hourly_limit_bounds)},
      {k_reserve_option,
       "Session starts kept for reconnects, {range} (default: 5 % of the daily total); "
       "initial=true requests are not granted from them",
       integer(&c::reserve, k_session_starts_bounds)},
      {{"--widen-step-ms", "QUEUE_WIDEN_STEP_MS", "MS"},
       "Widening of a bucket per reported Invalid Session, {range} ms",
       integer(&c::widen_step, {1, 3'600'000})},
      {{"--widen-max-ms", "QUEUE_WIDEN_MAX_MS", "MS"},
       "Most a bucket is widened above the interval, {range} ms (0: off)",
       integer(&c::widen_max, {0, 3'600'000})},
      {{"--log-format", "QUEUE_LOG_FORMAT", "FORMAT"},
       "text, or json (one object per line)",
       choice(&c::log_format_, {{"text", log_format::text}, {"json", log_format::json}})},
      {{"--log-level", "QUEUE_LOG_LEVEL", "LEVEL"},
       "debug, info, warn or error",
       choice(&c::log_level_, {{"debug", log_level::debug},
                               {"info", log_level::info},
                               {"warn", log_level::warn},
                               {"error", log_level::error}})},
  };
}

std::vector<option_row<history_command>> history_options() {
  using f = history_filter;
  const auto filter = [](value_rule<f> rule) { return within(&history_command::filter, rule); };
  constexpr bounds stored{0, k_max_stored_integer};
  return {
      journal_option<history_command>(),
      {{"--bot", nullptr, "NAME"},
       "Only grants of this bot (default: every bot's)",
       filter(bot_name(&f::bot))},
      {{"--shard", nullptr, "N"}, "Only grants of this shard", filter(integer(&f::shard, stored))},
      {{"--since", nullptr, "UNIX_MS"},
       "Only grants released at or after this time",
       filter(integer(&f::since, stored))},
      {{"--until", nullptr, "UNIX_MS"},
       "Only grants released at or before this time",
       filter(integer(&f::until, stored))},
      {{"--limit", nullptr, "N"},
       "At most this many rows, {range}",
       filter(integer(&f::limit, {1, f::k_max_limit}))},
  };
}

std::vector<option_row<probe_command>> probe_options() {
  using p = probe_command;
  return {
      {k_host_option, "Server address; 0.0.0.0 or :: (a wildcard bind) probes loopback",
       host(&p::host)},
      {k_port_option, "Server port, {range}", integer(&p::port, k_port_bounds)},
      {{"--timeout-ms", nullptr, "MS"},
       "Limit for connecting and for the answer, each; {range} ms",
       integer(&p::timeout, {1, 600'000})},
  };
}

std::vector<option_row<plan_command>> plan_options() {
  using p = plan_command;
  constexpr auto k_longest_reset = std::chrono::milliseconds(std::chrono::days{30}).count();
  return {
      {{"--shards", nullptr, "N"},
       "Shards to boot (0..N-1, all asking at once), {range}",
       required_integer(&p::shards, {1, 10'000'000})},
      {k_max_concurrency_option, "Buckets, {range} (default: Discord's, else {default})",
       flag_or_config(&p::max_concurrency_flag, &p::max_concurrency_config, k_concurrency_bounds)},
      {k_daily_limit_option, "Session starts per 24 h (default: Discord's total, else {default})",
       flag_or_config(&p::total_flag, &p::total_config, k_daily_limit_bounds)},
      {{"--remaining", nullptr, "N"},
       "Session starts left now (default: Discord's, else the daily limit)",
       integer(&p::remaining_flag, k_session_starts_bounds)},
      {{"--reset-after-ms", nullptr, "MS"},
       "Time until the daily reset (default: Discord's, else 24 h)",
       integer(&p::reset_after_ms_flag, {0, k_longest_reset})},
      {k_plan_interval_option, k_interval_help, integer(&p::interval, k_interval_bounds)},
      {k_on_exhausted_option, "Daily limit used up: hold (wait for the reset) or reject",
       choice(&p::on_exhausted, k_exhausted_choices)},
      {k_reserve_option, "Session starts kept for reconnects (default: 5 % of the total)",
       integer(&p::reserve, k_session_starts_bounds)},
      {k_bots_file_option, "The bots file that --bot reads", path(&p::bots_file)},
      {{"--bot", nullptr, "NAME"},
       "Plan for this bot of the bots file: its settings and Discord token stand in for the "
       "variables (flags still win)",
       bot_name(&p::bot)},
  };
}

}  // namespace gq::config_detail
