// Fuzzes the configuration parser: a command line and an environment, both from the input.
// The process environment is replaced on every run by the one the input describes, so nothing
// from the shell running the fuzzer reaches the parser.
//
// Invariants: a parsed configuration is within the documented bounds; an error is one line and
// exits 2; no message (error, help, version) ever contains a token. Tokens from the environment
// carry a non-printable tag, and tokens on the command line are checked when they hold such a
// byte: the parser prints arguments only escaped, so a raw non-printable byte in a message means
// a value was echoed verbatim.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "src/app/config.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/support/env_guard.hpp"

namespace {

// Two variables the parser does not read, beside those it does (gq::testing::k_config_variables).
constexpr const char* k_foreign_variables[] = {"QUEUE_UNKNOWN", "SHELL"};
// Arguments the input can pick by index, so the fuzzer reaches every option quickly.
constexpr const char* k_flags[] = {
    "--host",
    "--port",
    "--discord-token",
    "--discord-api-url",
    "--db",
    "--identify-interval-ms",
    "--max-concurrency",
    "--daily-limit",
    "--refresh-interval-s",
    "--on-exhausted",
    "--max-waiting",
    "--auth-token",
    "--retention-days",
    "--log-format",
    "--log-level",
    "history",
    "--shard",
    "--since",
    "--until",
    "--limit",
    "--help",
    "--version",
    "--discord-tokn",
    "--help-all",
    "--request-timeout-s",
    "--idle-timeout-s",
    "probe",
    "--timeout-ms",
    "plan",
    "--shards",
    "--remaining",
    "--reset-after-ms",
    "--interval-ms",
    "--json",
    "--discord-token-file",
    "--auth-token-file",
    "--db-file",
};
constexpr char k_secret_tag[] = "\x7f<token>";

// GQ_FUZZ_VERBOSE=1 (read before the first run clears the environment) prints each run's
// command line, environment and result: what reproducing a saved input needs.
const bool k_verbose = std::getenv("GQ_FUZZ_VERBOSE") != nullptr;

std::string escaped(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool has_non_printable(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c >= 0x7f) return true;
  }
  return false;
}

bool is_token_flag(const std::string& arg) {
  return arg.starts_with("--discord-token") || arg.starts_with("--auth-token");
}

void check_config(const gq::server_config& c) {
  GQ_FUZZ_CHECK(c.port >= 1, "port within 1..65535");
  GQ_FUZZ_CHECK(!c.host.empty() && !c.db_path.empty(), "host and db are not empty");
  GQ_FUZZ_CHECK(c.identify_interval.count() >= 1 && c.identify_interval.count() <= 86'400'000,
                "interval within bounds");
  GQ_FUZZ_CHECK(c.max_concurrency >= 1 && c.max_concurrency <= 65536, "concurrency in bounds");
  GQ_FUZZ_CHECK(c.daily_limit >= 1 && c.daily_limit <= 10'000'000, "daily limit in bounds");
  GQ_FUZZ_CHECK(c.refresh_interval.count() >= 1 && c.refresh_interval.count() <= 86'400,
                "refresh interval in bounds");
  GQ_FUZZ_CHECK(c.max_waiting >= 1 && c.max_waiting <= 10'000'000, "max waiting in bounds");
  GQ_FUZZ_CHECK(c.retention_days >= 1 && c.retention_days <= 36'500, "retention in bounds");
  GQ_FUZZ_CHECK(!c.discord_token || !c.discord_token->empty(), "a set token is not empty");
  GQ_FUZZ_CHECK(!c.auth_token || !c.auth_token->empty(), "a set auth token is not empty");
}

void check_history(const gq::history_command& h) {
  const auto& f = h.filter;
  GQ_FUZZ_CHECK(!h.db_path.empty(), "history db is not empty");
  GQ_FUZZ_CHECK(f.limit >= 1 && f.limit <= gq::history_filter::k_max_limit,
                "history limit in bounds");
  GQ_FUZZ_CHECK(!f.shard || *f.shard <= std::uint64_t(std::numeric_limits<std::int64_t>::max()),
                "history shard below 2^63");
  GQ_FUZZ_CHECK(!f.since || !f.until || *f.since <= *f.until, "since is not after until");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::string> secrets;

  ::clearenv();
  const auto variables = in.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < variables; ++i) {
    const char* name = in.ConsumeBool() ? in.PickValueInArray(gq::testing::k_config_variables)
                                        : in.PickValueInArray(k_foreign_variables);
    std::string value = in.ConsumeRandomLengthString(64);
    const std::string_view n = name;
    if (n == "DISCORD_TOKEN" || n == "QUEUE_AUTH_TOKEN") {
      value += k_secret_tag;
      secrets.push_back(value);
    }
    // setenv refuses nothing but a NUL inside, which a real environment cannot hold either.
    ::setenv(name, value.c_str(), 1);
    if (k_verbose) std::fprintf(stderr, "env %s=%s\n", name, escaped(value).c_str());
  }

  std::vector<std::string> args{"gateway-queue"};
  const auto count = in.ConsumeIntegralInRange<int>(0, 10);
  for (int i = 0; i < count; ++i) {
    if (in.ConsumeBool()) {
      std::string flag = in.PickValueInArray(k_flags);
      if (in.ConsumeBool()) flag += "=" + in.ConsumeRandomLengthString(32);
      args.push_back(std::move(flag));
    } else {
      args.push_back(in.ConsumeRandomLengthString(32));
    }
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (!is_token_flag(arg)) continue;
    std::string value;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[i + 1];
    }
    if (has_non_printable(value) && value.size() >= 2) secrets.push_back(value);
  }

  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  const auto parsed = gq::parse_command_line(static_cast<int>(args.size()), argv.data());
  if (k_verbose) {
    for (const auto& arg : args) std::fprintf(stderr, "arg %s\n", escaped(arg).c_str());
    if (const auto* exit = std::get_if<gq::exit_request>(&parsed)) {
      std::fprintf(stderr, "exit %d: %s\n", exit->code, escaped(exit->message).c_str());
    }
  }

  if (const auto* exit = std::get_if<gq::exit_request>(&parsed)) {
    GQ_FUZZ_CHECK(exit->code == 0 || exit->code == 2, "exit code is 0 or 2");
    GQ_FUZZ_CHECK(!exit->message.empty(), "an exit has a message");
    if (exit->code == 2) {
      GQ_FUZZ_CHECK(exit->message.find('\n') == std::string::npos, "an error is one line");
    }
    for (const auto& secret : secrets) {
      GQ_FUZZ_CHECK(exit->message.find(secret) == std::string::npos, "no token in a message");
    }
  } else if (const auto* config = std::get_if<gq::server_config>(&parsed)) {
    check_config(*config);
  } else if (const auto* history = std::get_if<gq::history_command>(&parsed)) {
    check_history(*history);
  } else if (const auto* probe = std::get_if<gq::probe_command>(&parsed)) {
    GQ_FUZZ_CHECK(probe->port >= 1 && !probe->host.empty(), "probe address is whole");
    GQ_FUZZ_CHECK(probe->timeout.count() >= 1 && probe->timeout.count() <= 600'000,
                  "probe timeout in bounds");
  } else {
    const auto& plan = std::get<gq::plan_command>(parsed);
    GQ_FUZZ_CHECK(plan.shards >= 1 && plan.shards <= 10'000'000, "plan shards in bounds");
    GQ_FUZZ_CHECK(plan.interval.count() >= 1 && plan.interval.count() <= 86'400'000,
                  "plan interval in bounds");
  }
  ::clearenv();
  return 0;
}
