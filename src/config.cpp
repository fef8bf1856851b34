#include "src/config.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "src/discord_client.hpp"

#ifndef GQ_VERSION
#define GQ_VERSION "0.0.0"
#endif

namespace gq {
namespace {

constexpr std::uint64_t k_max_int63 = std::numeric_limits<std::int64_t>::max();
constexpr std::string_view k_redacted = "[redacted]";

// Thrown by the validators below and turned into exit_request{2, message}; never leaves this file.
struct bad_value {
  std::string message;
};

// One command-line option with an (optional) environment fallback.
struct setting {
  const char* env = nullptr;  // nullptr for flags without an environment variable
  const char* flag = nullptr;
  bool secret = false;
  std::string value;
  CLI::Option* option = nullptr;

  // A value equal to the environment's may have come from either; then it does not matter.
  bool from_flag() const {
    const char* from_env = env ? std::getenv(env) : nullptr;
    return option->count() > 0 && (!from_env || value != from_env);
  }

  std::string label() const {
    return env ? std::string(env) + " (" + flag + ")" : std::string(flag);
  }

  // The value to validate, or nullopt for "use the default". CLI11 ignores an empty environment
  // variable; we do not, so that `PORT=` is an error instead of a silent default. An empty secret
  // counts as unset: docker-compose's `DISCORD_TOKEN=${DISCORD_TOKEN}` yields one when unset.
  std::optional<std::string> raw() const {
    std::optional<std::string> result;
    if (option->count() > 0) {
      result = value;
    } else if (env) {
      if (const char* from_env = std::getenv(env)) result = from_env;
    }
    if (secret && result && result->empty()) result.reset();
    return result;
  }
};

// Quotes a value for an error line: printable ASCII as is, everything else escaped, so the
// message stays one line whatever the value holds.
std::string quote_value(std::string_view value) {
  constexpr std::size_t k_max_shown = 80;
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size() && i < k_max_shown; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > k_max_shown) out += "...";
  return out + "\"";
}

// CLI11's own messages, and the names of unknown flags, quote arguments raw; a newline or an
// escape sequence in one would split the error over lines or drive the terminal, and bytes
// beyond ASCII could be a mistyped secret. Escapes what quote_value escapes; every exit-2 message
// goes through it.
std::string one_printable_line(std::string_view message) {
  std::string out;
  for (const char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

[[noreturn]] void fail(const setting& s, const std::string& what) {
  throw bad_value{"invalid " + s.label() + ": " + what};
}

// Digits only: no sign, no spaces, no exponent; leading zeros are allowed ("007" is 7).
std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t result = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (result > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    result = result * 10 + digit;
  }
  return result;
}

std::uint64_t integer_in(const setting& s, const std::string& text, std::uint64_t min,
                         std::uint64_t max) {
  const auto parsed = parse_decimal(text);
  if (!parsed || *parsed < min || *parsed > max) {
    fail(s, quote_value(text) + " is not an integer between " + std::to_string(min) + " and " +
                std::to_string(max));
  }
  return *parsed;
}

template <class T>
void read_integer(const setting& s, T& target, std::uint64_t min, std::uint64_t max) {
  if (auto raw = s.raw()) target = static_cast<T>(integer_in(s, *raw, min, max));
}

template <class Duration>
void read_duration(const setting& s, Duration& target, std::uint64_t min, std::uint64_t max) {
  if (auto raw = s.raw())
    target = Duration{static_cast<typename Duration::rep>(integer_in(s, *raw, min, max))};
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Matches case-insensitively: `INFO` in an environment file means what `info` means.
template <class Enum>
void read_choice(const setting& s, Enum& target,
                 std::initializer_list<std::pair<std::string_view, Enum>> choices) {
  auto raw = s.raw();
  if (!raw) return;
  const std::string wanted = lowercase(*raw);
  std::string names;
  for (const auto& [name, choice] : choices) {
    if (wanted == name) {
      target = choice;
      return;
    }
    names += names.empty() ? "" : ", ";
    names += name;
  }
  fail(s, quote_value(*raw) + " is not one of " + names);
}

bool has_space_or_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

// Never echoes the value: the line goes to stderr and into whatever collects it.
void read_secret(const setting& s, std::optional<std::string>& target, std::string_view scheme) {
  auto raw = s.raw();
  if (!raw) return;
  if (has_space_or_control(*raw)) {
    std::string what = "must not contain whitespace or control characters";
    if (raw->starts_with(scheme)) {
      what += "; give it without the \"" + std::string(scheme) + "\" prefix";
    }
    fail(s, what);
  }
  target = std::move(*raw);
}

// Deliberately loose: an IPv4/IPv6 literal or a host name; the bind reports anything subtler.
void read_host(const setting& s, std::string& target) {
  auto raw = s.raw();
  if (!raw) return;
  const bool plausible = !raw->empty() && std::all_of(raw->begin(), raw->end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
           c == '_' || c == '%';
  });
  if (!plausible) fail(s, quote_value(*raw) + " is not an IP address or host name");
  target = std::move(*raw);
}

void read_api_url(const setting& s, std::string& target) {
  auto raw = s.raw();
  if (!raw) return;
  // user:password@ would be echoed below and sent nowhere useful: refuse it without echoing.
  if (raw->find('@') != std::string::npos) fail(s, "must not contain credentials (user@host)");
  try {
    discord_client probe(*raw, "validation-only");  // the client's own parser is the rule
  } catch (const std::invalid_argument&) {
    fail(s, quote_value(*raw) + " is not a URL of the form http(s)://host[:port][/path]");
  }
  target = std::move(*raw);
}

void read_path(const setting& s, std::string& target) {
  auto raw = s.raw();
  if (!raw) return;
  if (raw->empty()) fail(s, "must not be empty");
  target = std::move(*raw);
}

// CLI11's own messages can quote arguments verbatim (`--discord-tokn=SECRET` is "not expected").
// Blank out everything that looks like a secret before the line is printed.
std::string scrub_secrets(std::string message, int argc, const char* const* argv) {
  std::vector<std::string> secrets;
  for (const char* env : {"DISCORD_TOKEN", "QUEUE_AUTH_TOKEN"}) {
    if (const char* value = std::getenv(env)) secrets.emplace_back(value);
  }
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with("-") || lowercase(std::string(arg)).find("token") == std::string::npos) {
      continue;
    }
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      secrets.emplace_back(arg.substr(eq + 1));
    } else if (i + 1 < argc) {
      secrets.emplace_back(argv[i + 1]);
    }
  }
  std::sort(secrets.begin(), secrets.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (auto at = message.find(secret); at != std::string::npos;
         at = message.find(secret, at + k_redacted.size())) {
      message.replace(at, secret.size(), k_redacted);
    }
  }
  return message;
}

// Every message is printed the same way, with one newline added by the caller.
std::string without_final_newline(std::string text) {
  while (text.ends_with('\n')) text.pop_back();
  return text;
}

// CLI11 says "--port: 1 required PORT missing" for `--port=`; name the variable as well.
std::string explain(std::string message, const std::deque<setting>& settings) {
  for (const auto& s : settings) {
    const std::string prefix = std::string(s.flag) + ":";
    if (!message.starts_with(prefix)) continue;
    if (message.ends_with("missing")) return "invalid " + s.label() + ": a value is required";
    return "invalid " + s.label() + ":" + message.substr(prefix.size());
  }
  return message;
}

// Unknown flags are named; values are only counted, since `--discord-tokn SECRET` puts a token
// among them.
std::string unexpected_arguments(const std::vector<std::string>& extras) {
  std::string flags;
  std::size_t values = 0;
  for (const auto& extra : extras) {
    if (extra.starts_with("-")) {
      flags += (flags.empty() ? "" : ", ") + extra.substr(0, extra.find('='));
      if (extra.find('=') != std::string::npos) ++values;
    } else {
      ++values;
    }
  }
  std::string message = "unexpected arguments:";
  if (!flags.empty()) message += " unknown option " + flags;
  if (values > 0) {
    message += (flags.empty() ? " " : " and ") + std::to_string(values) +
               (values == 1 ? " value" : " values") + " (not shown)";
  }
  return message + "; see --help";
}

}  // namespace

command parse_command_line(int argc, const char* const* argv) {
  CLI::App app{"gateway-queue: paces Discord gateway IDENTIFYs for bots sharded across processes.",
               "gateway-queue"};
  app.set_version_flag("--version", GQ_VERSION);
  app.allow_extras();  // reported below, without echoing values that may be mistyped secrets
  app.footer(
      "Each option also reads the environment variable shown; a flag wins over the environment.\n"
      "An empty DISCORD_TOKEN or QUEUE_AUTH_TOKEN counts as unset. Tokens are never printed.\n"
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

  auto& host = add(app, "HOST", "--host", "ADDRESS", "127.0.0.1",
                   "Bind address: an IP literal (no brackets) or a host name");
  auto& port = add(app, "PORT", "--port", "PORT", "5000", "Bind port, 1..65535");
  auto& discord_token =
      add(app, "DISCORD_TOKEN", "--discord-token", "TOKEN", nullptr,
          "Bot token (without \"Bot \"); when set, limits come from Discord", true);
  auto& api_url =
      add(app, "DISCORD_API_URL", "--discord-api-url", "URL", "https://discord.com/api/v10",
          "API base, http(s)://host[:port][/path]; GET {base}/gateway/bot");
  auto& db = add(app, "QUEUE_DB", "--db", "PATH", "gateway-queue.db", "SQLite journal file");
  auto& interval = add(app, "QUEUE_IDENTIFY_INTERVAL_MS", "--identify-interval-ms", "MS", "5000",
                       "Spacing of grants within one bucket, 1..86400000 ms");
  auto& concurrency = add(app, "QUEUE_MAX_CONCURRENCY", "--max-concurrency", "N", "1",
                          "Buckets when no token is set, 1..65536");
  auto& daily = add(app, "QUEUE_DAILY_LIMIT", "--daily-limit", "N", "1000",
                    "Session starts per 24 h when no token is set, 1..10000000");
  auto& refresh = add(app, "QUEUE_REFRESH_INTERVAL_S", "--refresh-interval-s", "SECONDS", "300",
                      "How often limits are re-read from Discord, 1..86400 s");
  auto& exhausted = add(app, "QUEUE_ON_EXHAUSTED", "--on-exhausted", "POLICY", "hold",
                        "Daily limit used up: hold (waiters wait for the reset) or reject (429)");
  auto& waiting = add(app, "QUEUE_MAX_WAITING", "--max-waiting", "N", "100000",
                      "Waiters held at once, 1..10000000; more get 503");
  auto& auth_token =
      add(app, "QUEUE_AUTH_TOKEN", "--auth-token", "TOKEN", nullptr,
          "When set, requests need 'Authorization: Bearer <it>' (/health, /ready excepted)", true);
  const server_config defaults;
  const auto request_timeout_default = std::to_string(defaults.request_timeout.count());
  auto& request_timeout =
      add(app, "QUEUE_REQUEST_TIMEOUT_S", "--request-timeout-s", "SECONDS",
          request_timeout_default.c_str(),
          "A request must arrive whole this long after it began (else 408), 1..3600 s");
  const auto idle_timeout_default = std::to_string(defaults.idle_timeout.count());
  auto& idle_timeout =
      add(app, "QUEUE_IDLE_TIMEOUT_S", "--idle-timeout-s", "SECONDS", idle_timeout_default.c_str(),
          "A keep-alive connection with no request closes after this, 1..86400 s");
  auto& retention = add(app, "QUEUE_RETENTION_DAYS", "--retention-days", "DAYS", "30",
                        "Journal rows older than this are pruned, 1..36500 days");
  auto& format = add(app, "QUEUE_LOG_FORMAT", "--log-format", "FORMAT", "text",
                     "text, or json (one object per line)");
  auto& level =
      add(app, "QUEUE_LOG_LEVEL", "--log-level", "LEVEL", "info", "debug, info, warn or error");

  auto* history = app.add_subcommand("history", "Print journal rows as JSON and exit");
  history->allow_extras();
  auto& history_db =
      add(*history, "QUEUE_DB", "--db", "PATH", "gateway-queue.db", "SQLite journal file");
  auto& shard = add(*history, nullptr, "--shard", "N", nullptr, "Only grants of this shard");
  auto& since = add(*history, nullptr, "--since", "UNIX_MS", nullptr,
                    "Only grants released at or after this time");
  auto& until = add(*history, nullptr, "--until", "UNIX_MS", nullptr,
                    "Only grants released at or before this time");
  auto& limit = add(*history, nullptr, "--limit", "N", "100", "At most this many rows, 1..10000");
  auto* probe = app.add_subcommand(
      "probe", "GET /health of the server at HOST:PORT; exit 0 on 200, else 1 (health checks)");
  probe->allow_extras();
  auto& probe_host = add(*probe, "HOST", "--host", "ADDRESS", "127.0.0.1",
                         "Server address; 0.0.0.0 or :: (a wildcard bind) probes loopback");
  auto& probe_port = add(*probe, "PORT", "--port", "PORT", "5000", "Server port, 1..65535");
  auto& probe_timeout = add(*probe, nullptr, "--timeout-ms", "MS", "2000",
                            "Limit for connecting and for the answer, each; 1..600000 ms");

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
  auto& plan_interval = add(*plan, "QUEUE_IDENTIFY_INTERVAL_MS", "--interval-ms", "MS", "5000",
                            "Spacing of grants within one bucket, 1..86400000 ms");
  auto& plan_exhausted = add(*plan, "QUEUE_ON_EXHAUSTED", "--on-exhausted", "POLICY", "hold",
                             "Daily limit used up: hold (wait for the reset) or reject");
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
    return exit_request{0, std::string("gateway-queue ") + e.what()};
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
      read_path(db.from_flag() && !history_db.from_flag() ? db : history_db, result.db_path);
      auto& filter = result.filter;
      if (auto raw = shard.raw()) filter.shard = integer_in(shard, *raw, 0, k_max_int63);
      if (auto raw = since.raw()) {
        filter.since = static_cast<unix_ms>(integer_in(since, *raw, 0, k_max_int63));
      }
      if (auto raw = until.raw()) {
        filter.until = static_cast<unix_ms>(integer_in(until, *raw, 0, k_max_int63));
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
    read_integer(retention, config.retention_days, 1, 36'500);
    read_duration(request_timeout, config.request_timeout, 1, 3'600);
    read_duration(idle_timeout, config.idle_timeout, 1, 86'400);
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
