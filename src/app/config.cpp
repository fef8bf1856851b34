#include "src/app/config.hpp"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "src/app/config_messages.hpp"
#include "src/app/config_setting.hpp"
#include "src/core/version.hpp"

// The table of settings (names, types, defaults shown, help) and how each command reads them.
// The validators: src/app/config_setting.hpp; CLI11's own refusals: src/app/config_messages.hpp.

namespace gq {

std::string version_line() {
  const std::string commit(build_commit());
  return "gateway-queue " + std::string(build_version()) + " (commit " + commit +
         (commit == "unknown" ? ": built outside a git checkout" : "") + ")";
}

using namespace config_detail;

command parse_command_line(int argc, const char* const* argv) {
  CLI::App app{"gateway-queue: paces Discord gateway IDENTIFYs for bots sharded across processes.",
               "gateway-queue"};
  app.set_version_flag("--version", version_line());
  app.allow_extras();  // reported below, without echoing values that may be mistyped secrets
  app.footer(
      "Each option also reads the environment variable shown; a flag wins over the environment.\n"
      "An empty DISCORD_TOKEN or QUEUE_AUTH_TOKEN counts as unset. Tokens are never printed.\n"
      "Secrets belong in files: DISCORD_TOKEN_FILE, QUEUE_AUTH_TOKEN_FILE, QUEUE_DB_FILE.\n"
      "Details: docs/CONFIGURATION.md");

  std::deque<setting> settings;  // a deque: `add` hands out references that must stay valid
  auto add = [&](CLI::App& to, const char* env, const char* flag, const char* type,
                 const char* default_shown, const char* help, bool secret = false) -> setting& {
    auto& s = settings.emplace_back(setting{env, flag, secret, {}, nullptr});
    // The last of a repeated flag wins, so that arguments appended to a Docker CMD override it.
    s.option = to.add_option(flag, s.value, help)
                   ->type_name(type)
                   ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    if (env) s.option->envname(env);
    if (default_shown && *default_shown) s.option->default_str(default_shown);
    return s;
  };
  // VAR_FILE and --flag-file for `s`: its value read from a file (docs/CONFIGURATION.md, "Secrets
  // in files").
  std::deque<std::string> file_names;  // the names' storage: setting holds const char*
  auto add_file = [&](CLI::App& to, setting& s) {
    const auto& env = file_names.emplace_back(std::string(s.env) + "_FILE");
    const auto& flag = file_names.emplace_back(std::string(s.flag) + "-file");
    const auto help = "Read " + std::string(s.env) + " from this file (one final newline dropped)";
    s.file = &add(to, env.c_str(), flag.c_str(), "PATH", nullptr, help.c_str());
  };

  const server_config defaults;
  auto& host = add(app, "HOST", "--host", "ADDRESS", defaults.host.c_str(),
                   "Bind address: an IP literal (no brackets) or a host name");
  auto& port = add(app, "PORT", "--port", "PORT", std::to_string(defaults.port).c_str(),
                   "Bind port, 1..65535");
  auto& discord_token =
      add(app, "DISCORD_TOKEN", "--discord-token", "TOKEN", nullptr,
          "Bot token (without \"Bot \"); when set, limits come from Discord", true);
  auto& api_url =
      add(app, "DISCORD_API_URL", "--discord-api-url", "URL", defaults.discord_api_url.c_str(),
          "API base, http(s)://host[:port][/path]; GET {base}/gateway/bot");
  auto& db = add(app, "QUEUE_DB", "--db", "PATH", defaults.db_path.c_str(),
                 "SQLite journal file or postgresql:// URI");
  add_file(app, discord_token);
  add_file(app, db);
  const auto interval_default = std::to_string(defaults.identify_interval.count());
  auto& interval =
      add(app, "QUEUE_IDENTIFY_INTERVAL_MS", "--identify-interval-ms", "MS",
          interval_default.c_str(), "Spacing of grants within one bucket, 1..86400000 ms");
  auto& concurrency = add(app, "QUEUE_MAX_CONCURRENCY", "--max-concurrency", "N",
                          std::to_string(defaults.max_concurrency).c_str(),
                          "Buckets when no token is set, 1..65536");
  auto& daily = add(app, "QUEUE_DAILY_LIMIT", "--daily-limit", "N",
                    std::to_string(defaults.daily_limit).c_str(),
                    "Session starts per 24 h when no token is set, 1..10000000");
  const auto refresh_default = std::to_string(defaults.refresh_interval.count());
  auto& refresh =
      add(app, "QUEUE_REFRESH_INTERVAL_S", "--refresh-interval-s", "SECONDS",
          refresh_default.c_str(), "How often limits are re-read from Discord, 1..86400 s");
  auto& exhausted = add(app, "QUEUE_ON_EXHAUSTED", "--on-exhausted", "POLICY", "hold",
                        "Daily limit used up: hold (waiters wait for the reset) or reject (429)");
  const auto waiting_default = std::to_string(defaults.max_waiting);
  auto& waiting = add(app, "QUEUE_MAX_WAITING", "--max-waiting", "N", waiting_default.c_str(),
                      "Waiters held at once, 1..10000000; more get 503");
  auto& auth_token =
      add(app, "QUEUE_AUTH_TOKEN", "--auth-token", "TOKEN", nullptr,
          "When set, requests need 'Authorization: Bearer <it>' (/health, /ready excepted)", true);
  add_file(app, auth_token);
  const auto request_timeout_default = std::to_string(defaults.request_timeout.count());
  auto& request_timeout =
      add(app, "QUEUE_REQUEST_TIMEOUT_S", "--request-timeout-s", "SECONDS",
          request_timeout_default.c_str(),
          "A request must arrive whole this long after it began (else 408), 1..3600 s");
  const auto idle_timeout_default = std::to_string(defaults.idle_timeout.count());
  auto& idle_timeout =
      add(app, "QUEUE_IDLE_TIMEOUT_S", "--idle-timeout-s", "SECONDS", idle_timeout_default.c_str(),
          "A keep-alive connection with no request closes after this, 1..86400 s");
  const auto retention_default = std::to_string(defaults.retention_days);
  auto& retention =
      add(app, "QUEUE_RETENTION_DAYS", "--retention-days", "DAYS", retention_default.c_str(),
          "Journal rows older than this are pruned, 1..36500 days");
  const auto hourly_default = std::to_string(defaults.shard_hourly_limit);
  auto& hourly =
      add(app, "QUEUE_SHARD_HOURLY_LIMIT", "--shard-hourly-limit", "N", hourly_default.c_str(),
          "Loop guard: grants per shard per hour before 429, 0..1000000 (0: off)");
  auto& reserve = add(app, "QUEUE_RESERVE", "--reserve", "N", nullptr,
                      "Session starts kept for reconnects, 0..10000000 (default: 5 % of the "
                      "daily total); initial=true requests are not granted from them");
  const auto widen_step_default = std::to_string(defaults.widen_step.count());
  auto& widen_step =
      add(app, "QUEUE_WIDEN_STEP_MS", "--widen-step-ms", "MS", widen_step_default.c_str(),
          "Widening of a bucket per reported Invalid Session, 1..3600000 ms");
  const auto widen_max_default = std::to_string(defaults.widen_max.count());
  auto& widen_max =
      add(app, "QUEUE_WIDEN_MAX_MS", "--widen-max-ms", "MS", widen_max_default.c_str(),
          "Most a bucket is widened above the interval, 0..3600000 ms (0: off)");
  auto& format = add(app, "QUEUE_LOG_FORMAT", "--log-format", "FORMAT", "text",
                     "text, or json (one object per line)");
  auto& level =
      add(app, "QUEUE_LOG_LEVEL", "--log-level", "LEVEL", "info", "debug, info, warn or error");

  auto* history = app.add_subcommand("history", "Print journal rows as JSON and exit");
  history->allow_extras();
  auto& history_db = add(*history, "QUEUE_DB", "--db", "PATH", defaults.db_path.c_str(),
                         "SQLite journal file or postgresql:// URI");
  add_file(*history, history_db);
  auto& shard = add(*history, nullptr, "--shard", "N", nullptr, "Only grants of this shard");
  auto& since = add(*history, nullptr, "--since", "UNIX_MS", nullptr,
                    "Only grants released at or after this time");
  auto& until = add(*history, nullptr, "--until", "UNIX_MS", nullptr,
                    "Only grants released at or before this time");
  auto& limit = add(*history, nullptr, "--limit", "N",
                    std::to_string(history_filter::k_default_limit).c_str(),
                    "At most this many rows, 1..10000");
  auto* probe = app.add_subcommand(
      "probe", "GET /health (or /ready) of the server at HOST:PORT; exit 0 on 200, else 1");
  probe->allow_extras();
  auto& probe_host = add(*probe, "HOST", "--host", "ADDRESS", defaults.host.c_str(),
                         "Server address; 0.0.0.0 or :: (a wildcard bind) probes loopback");
  auto& probe_port = add(*probe, "PORT", "--port", "PORT", std::to_string(defaults.port).c_str(),
                         "Server port, 1..65535");
  auto& probe_timeout = add(*probe, nullptr, "--timeout-ms", "MS",
                            std::to_string(probe_command{}.timeout.count()).c_str(),
                            "Limit for connecting and for the answer, each; 1..600000 ms");
  bool probe_ready = false;
  probe->add_flag("--ready", probe_ready,
                  "GET /ready instead: exit 0 only on the active queue (load balancers)");

  auto* plan = app.add_subcommand("plan", "Print how long a boot of N shards takes, and exit");
  plan->allow_extras();
  auto& plan_shards = add(*plan, nullptr, "--shards", "N", nullptr,
                          "Shards to boot (0..N-1, all asking at once), 1..10000000");
  auto& plan_concurrency = add(*plan, "QUEUE_MAX_CONCURRENCY", "--max-concurrency", "N", nullptr,
                               "Buckets, 1..65536 (default: Discord's, else 1)");
  auto& plan_total = add(*plan, "QUEUE_DAILY_LIMIT", "--daily-limit", "N", nullptr,
                         "Session starts per 24 h (default: Discord's total, else 1000)");
  auto& plan_remaining = add(*plan, nullptr, "--remaining", "N", nullptr,
                             "Session starts left now (default: Discord's, else the daily limit)");
  auto& plan_reset = add(*plan, nullptr, "--reset-after-ms", "MS", nullptr,
                         "Time until the daily reset (default: Discord's, else 24 h)");
  auto& plan_interval =
      add(*plan, "QUEUE_IDENTIFY_INTERVAL_MS", "--interval-ms", "MS", interval_default.c_str(),
          "Spacing of grants within one bucket, 1..86400000 ms");
  auto& plan_exhausted = add(*plan, "QUEUE_ON_EXHAUSTED", "--on-exhausted", "POLICY", "hold",
                             "Daily limit used up: hold (wait for the reset) or reject");
  auto& plan_reserve = add(*plan, "QUEUE_RESERVE", "--reserve", "N", nullptr,
                           "Session starts kept for reconnects (default: 5 % of the total)");
  bool plan_json = false;
  plan->add_flag("--json", plan_json, "Print the plan as JSON");
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return exit_request{0, without_final_newline(app.help())};
  } catch (const CLI::CallForAllHelp&) {
    return exit_request{0, without_final_newline(app.help("", CLI::AppFormatMode::All))};
  } catch (const CLI::CallForVersion& e) {
    return exit_request{0, e.what()};
  } catch (const CLI::ParseError& e) {
    return exit_request{2,
                        one_printable_line(scrub_secrets(explain(e.what(), settings), argc, argv))};
  }
  if (auto extras = app.remaining(true); !extras.empty()) {
    return exit_request{2, one_printable_line(unexpected_arguments(extras))};
  }

  try {
    if (history->parsed()) {
      history_command result;
      // Both `history --db x` and `--db x history` work; either flag beats QUEUE_DB.
      read_path(db.given_by_flag() && !history_db.given_by_flag() ? db : history_db,
                result.db_path);
      auto& filter = result.filter;
      if (auto raw = shard.raw()) filter.shard = integer_in(shard, *raw, 0, k_max_stored_integer);
      if (auto raw = since.raw()) {
        filter.since = static_cast<unix_ms>(integer_in(since, *raw, 0, k_max_stored_integer));
      }
      if (auto raw = until.raw()) {
        filter.until = static_cast<unix_ms>(integer_in(until, *raw, 0, k_max_stored_integer));
      }
      read_integer(limit, filter.limit, 1, history_filter::k_max_limit);
      if (filter.since && filter.until && *filter.since > *filter.until) {
        throw bad_value{"invalid --since/--until: since (" + std::to_string(*filter.since) +
                        ") is after until (" + std::to_string(*filter.until) + ")"};
      }
      return result;
    }

    if (probe->parsed()) {
      probe_command result;
      // Like history: the flag given before or after `probe` beats the environment.
      read_host(host.from_flag() && !probe_host.from_flag() ? host : probe_host, result.host);
      read_integer(port.from_flag() && !probe_port.from_flag() ? port : probe_port, result.port, 1,
                   65535);
      read_duration(probe_timeout, result.timeout, 1, 600'000);
      result.ready = probe_ready;
      return result;
    }

    if (plan->parsed()) {
      plan_command result;
      if (!plan_shards.raw()) throw bad_value{"invalid --shards: a value is required"};
      read_integer(plan_shards, result.shards, 1, 10'000'000);
      // A flag beats Discord's value; the environment only stands in for the configuration.
      auto flag_or_config = [](const setting& s, std::optional<std::uint32_t>& flag,
                               std::uint32_t& config, std::uint64_t min, std::uint64_t max) {
        if (s.from_flag())
          flag = static_cast<std::uint32_t>(integer_in(s, *s.raw(), min, max));
        else
          read_integer(s, config, min, max);
      };
      flag_or_config(plan_concurrency, result.max_concurrency_flag, result.max_concurrency_config,
                     1, 65536);
      flag_or_config(plan_total, result.total_flag, result.total_config, 1, 10'000'000);
      if (auto raw = plan_remaining.raw())
        result.remaining_flag =
            static_cast<std::uint32_t>(integer_in(plan_remaining, *raw, 0, 10'000'000));
      if (auto raw = plan_reset.raw())
        result.reset_after_ms_flag =
            static_cast<std::int64_t>(integer_in(plan_reset, *raw, 0, 30LL * 86'400'000));
      read_duration(plan_interval, result.interval, 1, 86'400'000);
      read_choice(plan_exhausted, result.on_exhausted,
                  {{"hold", exhausted_policy::hold}, {"reject", exhausted_policy::reject}});
      if (auto raw = plan_reserve.raw())
        result.reserve = static_cast<std::uint32_t>(integer_in(plan_reserve, *raw, 0, 10'000'000));
      result.json = plan_json;
      read_secret(discord_token, result.discord_token, "Bot ");
      read_api_url(api_url, result.discord_api_url);
      return result;
    }

    server_config config;
    read_host(host, config.host);
    read_integer(port, config.port, 1, 65535);
    read_secret(discord_token, config.discord_token, "Bot ");
    read_api_url(api_url, config.discord_api_url);
    read_path(db, config.db_path);
    read_duration(interval, config.identify_interval, 1, 86'400'000);
    read_integer(concurrency, config.max_concurrency, 1, 65536);
    read_integer(daily, config.daily_limit, 1, 10'000'000);
    read_duration(refresh, config.refresh_interval, 1, 86'400);
    read_choice(exhausted, config.on_exhausted,
                {{"hold", exhausted_policy::hold}, {"reject", exhausted_policy::reject}});
    read_integer(waiting, config.max_waiting, 1, 10'000'000);
    read_secret(auth_token, config.auth_token, "Bearer ");
    for (const setting* s : {&discord_token, &auth_token}) {
      if (s->from_flag() && s->raw()) config.secrets_on_command_line.emplace_back(s->flag);
    }
    read_integer(retention, config.retention_days, 1, 36'500);
    read_duration(request_timeout, config.request_timeout, 1, 3'600);
    read_duration(idle_timeout, config.idle_timeout, 1, 86'400);
    read_integer(hourly, config.shard_hourly_limit, 0, 1'000'000);
    if (auto raw = reserve.raw())
      config.reserve = static_cast<std::uint32_t>(integer_in(reserve, *raw, 0, 10'000'000));
    read_duration(widen_step, config.widen_step, 1, 3'600'000);
    read_duration(widen_max, config.widen_max, 0, 3'600'000);
    read_choice(format, config.log_format_,
                {{"text", log_format::text}, {"json", log_format::json}});
    read_choice(level, config.log_level_,
                {{"debug", log_level::debug},
                 {"info", log_level::info},
                 {"warn", log_level::warn},
                 {"error", log_level::error}});
    return config;
  } catch (const bad_value& e) {
    return exit_request{2, one_printable_line(e.message)};
  }
}

}  // namespace gq
