#pragma once
// The server's configuration: environment variables, each also a command-line flag; flags win.
// The table of names and defaults is the contract in docs/CONFIGURATION.md.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "actors/archive.hpp"
#include "actors/http_edge.hpp"
#include "actors/limits_scheduler.hpp"
#include "src/app/bots_file.hpp"
#include "src/core/records.hpp"
#include "src/http/connection_deadlines.hpp"

namespace gq {

// Defaults shared by the server and its subcommands (the others live with the part they
// configure: http_edge.hpp, limits_scheduler.hpp, archive.hpp, connection_deadlines.hpp).
inline constexpr std::string_view k_default_host = "127.0.0.1";
inline constexpr std::uint16_t k_default_port = 5000;
inline constexpr std::string_view k_default_api_url = "https://discord.com/api/v10";
inline constexpr std::string_view k_default_db_path = "gateway-queue.db";
inline constexpr std::chrono::milliseconds k_default_identify_interval{5000};
inline constexpr std::uint32_t k_default_max_concurrency = 1;
inline constexpr std::uint32_t k_default_daily_limit = 1000;
inline constexpr std::uint32_t k_default_shard_hourly_limit = 12;
inline constexpr std::chrono::milliseconds k_default_widen_step{1000};
inline constexpr std::chrono::milliseconds k_default_widen_max{5000};

enum class exhausted_policy { hold, reject };
enum class log_format { text, json };
enum class log_level { debug, info, warn, error };

struct server_config {
  std::string host{k_default_host};
  std::uint16_t port = k_default_port;
  std::optional<std::string> discord_token;  // secret: never logged or echoed
  std::string discord_api_url{k_default_api_url};
  std::string db_path{k_default_db_path};
  // QUEUE_BOTS_FILE, and the bots read from it (each unset value: the variable's). Without the
  // file, `bots` is empty and the one bot, `default`, is configured by the variables.
  std::optional<std::string> bots_file;
  std::vector<bot_settings> bots;
  std::chrono::milliseconds identify_interval = k_default_identify_interval;
  std::uint32_t max_concurrency = k_default_max_concurrency;
  std::uint32_t daily_limit = k_default_daily_limit;
  std::chrono::seconds refresh_interval = k_default_refresh_interval;
  exhausted_policy on_exhausted = exhausted_policy::hold;
  std::uint64_t max_waiting = k_default_max_waiting;
  std::optional<std::string> auth_token;  // secret: never logged or echoed
  std::uint32_t retention_days = k_default_retention.count();
  std::chrono::seconds request_timeout = k_default_request_timeout;  // whole request, else 408
  std::chrono::seconds idle_timeout = k_default_idle_timeout;        // keep-alive between requests
  log_format log_format_ = log_format::text;
  log_level log_level_ = log_level::info;
  std::uint32_t shard_hourly_limit = k_default_shard_hourly_limit;  // the loop guard; 0: off
  std::optional<std::uint32_t> reserve;  // for reconnects; unset: 5 % of the daily total
  std::chrono::milliseconds widen_step = k_default_widen_step;
  std::chrono::milliseconds widen_max = k_default_widen_max;  // 0: never widen
  // Flags that carried a token (`--discord-token`): any user of the machine can read them in
  // `ps`; the server warns at start.
  std::vector<std::string> secrets_on_command_line;
};

// `gateway-queue history`: prints journal rows without a running server.
struct history_command {
  std::string db_path{k_default_db_path};  // --db, else QUEUE_DB
  history_filter filter;                   // --bot --shard --since --until --limit
};

// `gateway-queue probe`: GET /health of a running server (the container health check), or GET
// /ready with --ready (which queue of several is active: load balancers, keepalived).
struct probe_command {
  std::string host{k_default_host};         // --host, else HOST; a wildcard address probes loopback
  std::uint16_t port = k_default_port;      // --port, else PORT
  std::chrono::milliseconds timeout{2000};  // --timeout-ms: connect and read, each
  bool ready = false;                       // --ready: /ready instead of /health
};

// `gateway-queue plan`: how long a boot of N shards takes (src/app/plan_command.hpp). Each limit is
// taken from its flag, else from Discord (with a token), else from the configuration.
struct plan_command {
  std::uint64_t shards = 0;                                          // --shards, required
  std::optional<std::uint32_t> max_concurrency_flag;                 // --max-concurrency
  std::uint32_t max_concurrency_config = k_default_max_concurrency;  // QUEUE_MAX_CONCURRENCY
  std::optional<std::uint32_t> total_flag;                           // --daily-limit
  std::uint32_t total_config = k_default_daily_limit;                // QUEUE_DAILY_LIMIT
  std::optional<std::uint32_t> remaining_flag;      // --remaining (else: a fresh window)
  std::optional<std::int64_t> reset_after_ms_flag;  // --reset-after-ms (else: 24 h)
  std::chrono::milliseconds interval = k_default_identify_interval;  // --interval-ms, QUEUE_...
  exhausted_policy on_exhausted = exhausted_policy::hold;  // --on-exhausted, QUEUE_ON_EXHAUSTED
  std::optional<std::uint32_t> reserve;                    // --reserve, QUEUE_RESERVE
  bool json = false;                                       // --json
  std::optional<std::string> discord_token;                // secret: never logged or echoed
  std::string discord_api_url{k_default_api_url};
  // --bot: one bot of the bots file (--bots-file, QUEUE_BOTS_FILE), whose settings stand in for
  // the variables and whose Discord token, if it has one, gives the live limits. Flags still win.
  std::optional<std::string> bot;
  std::optional<std::string> bots_file;
};

// What the command line asks for. `exit` means: print `message` (to stdout when code is 0,
// as for --help; to stderr otherwise) and exit with `code` (2 for a bad value).
struct exit_request {
  int code = 0;
  std::string message;
};
using command =
    std::variant<server_config, history_command, probe_command, plan_command, exit_request>;

// "gateway-queue <version> (commit <hash>)": what --version prints and the log's first line says.
std::string version_line();

// Parses argv and the environment (getenv). A bad value yields exit_request{2, "<one line naming
// the variable and the flag, and what is allowed>"}; the line never contains a secret's value.
command parse_command_line(int argc, const char* const* argv);

}  // namespace gq
