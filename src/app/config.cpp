#include "src/app/config.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "src/app/config_messages.hpp"
#include "src/app/config_option_set.hpp"
#include "src/app/config_setting.hpp"
#include "src/app/config_tables.hpp"
#include "src/core/version.hpp"

// The commands and how each reads its options. The options: src/app/config_tables.cpp; the
// validators: src/app/config_setting.hpp; CLI11's own refusals: src/app/config_messages.hpp.

namespace gq {

std::string version_line() {
  const std::string commit(build_commit());
  return "gateway-queue " + std::string(build_version()) + " (commit " + commit +
         (commit == "unknown" ? ": built outside a git checkout" : "") + ")";
}

using namespace config_detail;

namespace {

// The footer's names come from the server's table: its secrets, and which have a `_FILE` (the
// tokens' first).
std::string footer(const std::vector<option_row<server_config>>& rows) {
  std::string secrets;
  std::string token_files;
  std::string other_files;
  for (const auto& row : rows) {
    if (row.rule.secret) secrets += (secrets.empty() ? "" : " or ") + std::string(row.name.env);
    if (row.file != value_file::accepted) continue;
    auto& files = row.rule.secret ? token_files : other_files;
    files += (files.empty() ? "" : ", ") + std::string(row.name.env) + k_file_env_suffix;
  }
  return "Each option also reads the environment variable shown; a flag wins over the "
         "environment.\n"
         "An empty " +
         secrets + " counts as unset. Tokens are never printed.\n" +
         "Secrets belong in files: " + token_files + ", " + other_files + ".\n" +
         "Details: docs/CONFIGURATION.md";
}

history_command read_history(const option_set<history_command>& history,
                             const option_set<server_config>& server) {
  history_command result;
  // Both `history --db x` and `--db x history` work; either flag beats QUEUE_DB.
  history.read_into(result, server);
  const auto& filter = result.filter;
  if (filter.since && filter.until && *filter.since > *filter.until) {
    throw bad_value{"invalid --since/--until: since (" + std::to_string(*filter.since) +
                    ") is after until (" + std::to_string(*filter.until) + ")"};
  }
  return result;
}

probe_command read_probe(const option_set<probe_command>& probe,
                         const option_set<server_config>& server, bool ready) {
  probe_command result;
  // Like history: the flag given before or after `probe` beats the environment.
  probe.read_into(result, server);
  result.ready = ready;
  return result;
}

// `plan --bot NAME`: that bot's settings in the bots file stand in for the variables, as the
// server resolves a bot (src/app/bot_definition.cpp), while a flag still wins over them.
void read_plan_bot(const option_set<plan_command>& plan, plan_command& result) {
  if (!result.bot) return;
  if (!result.bots_file) {
    throw bad_value{
        "invalid --bot: names a bot of the bots file, and QUEUE_BOTS_FILE "
        "(--bots-file) is not set"};
  }
  auto read = read_bots_file(*result.bots_file);
  if (auto* error = std::get_if<std::string>(&read)) throw bad_value{std::move(*error)};
  const auto& bots = std::get<std::vector<bot_settings>>(read);
  const auto bot = std::find_if(bots.begin(), bots.end(),
                                [&](const bot_settings& b) { return b.name == *result.bot; });
  if (bot == bots.end()) {
    throw bad_value{"invalid --bot: no bot \"" + *result.bot + "\" in QUEUE_BOTS_FILE " +
                    *result.bots_file};
  }
  const auto flagged = [&plan](const option_name& option) {
    return plan.find(option.flag)->given_by_flag();
  };
  // The flags of these two land in their own fields (they override Discord's values as well).
  result.max_concurrency_config = bot->max_concurrency.value_or(result.max_concurrency_config);
  result.total_config = bot->daily_limit.value_or(result.total_config);
  if (bot->identify_interval && !flagged(k_plan_interval_option))
    result.interval = *bot->identify_interval;
  if (bot->on_exhausted && !flagged(k_on_exhausted_option))
    result.on_exhausted = *bot->on_exhausted;
  if (bot->reserve && !flagged(k_reserve_option)) result.reserve = bot->reserve;
  // As in the server: a bot's limits come from Discord with its own token, never DISCORD_TOKEN's.
  result.discord_token = bot->discord_token;
}

plan_command read_plan(const option_set<plan_command>& plan,
                       const option_set<server_config>& server, bool json) {
  plan_command result;
  plan.read_into(result);
  result.json = json;
  // With the server's token the plan asks Discord for the limits, as the server would.
  server_config limits_source;
  server.read_only(
      {k_discord_token_option.flag, k_discord_api_url_option.flag, k_bots_file_option.flag},
      limits_source);
  result.discord_token = std::move(limits_source.discord_token);
  result.discord_api_url = std::move(limits_source.discord_api_url);
  // `--bots-file x plan` as well as `plan --bots-file x` (which wins); both read QUEUE_BOTS_FILE.
  if (!plan.find(k_bots_file_option.flag)->given_by_flag() && limits_source.bots_file)
    result.bots_file = std::move(limits_source.bots_file);
  read_plan_bot(plan, result);
  return result;
}

// The bots file, once the variables are read (its bots' tokens must differ from the operator's);
// a bad one exits 2 like a bad variable.
void read_bots(server_config& config) {
  if (!config.bots_file) return;
  auto bots = read_bots_file(*config.bots_file, config.auth_token);
  if (auto* error = std::get_if<std::string>(&bots)) throw bad_value{std::move(*error)};
  config.bots = std::move(std::get<std::vector<bot_settings>>(bots));
}

}  // namespace

command parse_command_line(int argc, const char* const* argv) {
  CLI::App app{"gateway-queue: paces Discord gateway IDENTIFYs for bots sharded across processes.",
               "gateway-queue"};
  app.set_version_flag("--version", version_line());
  app.allow_extras();  // reported below, without echoing values that may be mistyped secrets

  option_registry registry;
  const option_set server(app, registry, server_options());
  app.footer(footer(server.rows()));  // before the subcommands, which copy it

  auto* history_app = app.add_subcommand("history", "Print journal rows as JSON and exit");
  history_app->allow_extras();
  const option_set history(*history_app, registry, history_options());

  auto* probe_app = app.add_subcommand(
      "probe", "GET /health (or /ready) of the server at HOST:PORT; exit 0 on 200, else 1");
  probe_app->allow_extras();
  const option_set probe(*probe_app, registry, probe_options());
  bool probe_ready = false;
  probe_app->add_flag("--ready", probe_ready,
                      "GET /ready instead: exit 0 only on the active queue (load balancers)");

  auto* plan_app = app.add_subcommand("plan", "Print how long a boot of N shards takes, and exit");
  plan_app->allow_extras();
  const option_set plan(*plan_app, registry, plan_options());
  bool plan_json = false;
  plan_app->add_flag("--json", plan_json, "Print the plan as JSON");
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
    return exit_request{2, one_printable_line(scrub_secrets(explain(e.what(), registry.settings()),
                                                            argc, argv, registry.settings()))};
  }
  if (auto extras = app.remaining(true); !extras.empty()) {
    return exit_request{2, one_printable_line(unexpected_arguments(extras))};
  }

  try {
    if (history_app->parsed()) return read_history(history, server);
    if (probe_app->parsed()) return read_probe(probe, server, probe_ready);
    if (plan_app->parsed()) return read_plan(plan, server, plan_json);
    server_config config;
    server.read_into(config);
    read_bots(config);
    config.secrets_on_command_line = server.secrets_given_by_flag();
    return config;
  } catch (const bad_value& e) {
    return exit_request{2, one_printable_line(e.message)};
  }
}

}  // namespace gq
