#include "src/app/config_setting.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "src/app/capped_file.hpp"
#include "src/app/discord_client.hpp"
#include "src/core/bot.hpp"
#include "src/http/query.hpp"

namespace gq::config_detail {
namespace {

bool has_space_or_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

}  // namespace

bool setting::from_flag() const {
  const char* from_env = env ? std::getenv(env) : nullptr;
  return option->count() > 0 && (!from_env || value != from_env);
}

bool setting::given_by_flag() const { return from_flag() || (file && file->from_flag()); }

std::string setting::label() const {
  if (read_from_file) return file->label();
  return env ? std::string(env) + " (" + flag + ")" : std::string(flag);
}

std::optional<std::string> setting::direct_raw() const {
  std::optional<std::string> result;
  if (option->count() > 0) {
    result = value;
  } else if (env) {
    if (const char* from_env = std::getenv(env)) result = from_env;
  }
  if (secret && result && result->empty()) result.reset();
  return result;
}

std::optional<std::string> setting::raw() const {
  read_from_file = false;
  auto direct = direct_raw();
  if (!file) return direct;
  // Flags win over the environment, so `--discord-token-file` beats DISCORD_TOKEN; within one
  // level two sources are a mistake to report, not a choice to make silently.
  const bool direct_flag = from_flag();
  const bool file_flag = file->from_flag();
  bool from_file = false;
  if (direct_flag || file_flag) {
    if (direct_flag && file_flag)
      throw bad_value{"invalid " + std::string(flag) + ": give " + flag + " or " + file->flag +
                      ", not both"};
    from_file = file_flag;
  } else if (file->direct_raw()) {
    if (direct)
      throw bad_value{"invalid " + std::string(env) + ": set " + env + " or " + file->env +
                      ", not both"};
    from_file = true;
  }
  if (!from_file) return direct;
  read_from_file = true;
  return file->read_value_file();
}

std::string setting::read_value_file() const {
  const auto path = direct_raw();
  if (!path || path->empty()) fail(*this, "must not be empty");
  auto read = read_capped_file(*path, k_max_value_file_bytes);
  if (auto* error = std::get_if<capped_file_error>(&read)) {
    if (error->problem == capped_file_problem::too_large)
      fail(*this, quote_value(*path) + " is larger than " + std::to_string(k_max_value_file_bytes) +
                      " bytes");
    fail(*this, "cannot read " + quote_value(*path) + ": " + std::strerror(error->error_number));
  }
  auto contents = std::get<std::string>(std::move(read));
  // `echo token > file` and editors end the file with a newline; only that one is not part of
  // the value, so a stray second line is still refused by the value's own check.
  if (contents.ends_with('\n')) contents.pop_back();
  if (contents.empty()) fail(*this, quote_value(*path) + " is empty");
  return contents;
}

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

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// The query string's parser is the one rule for a decimal integer: digits only, leading zeros
// allowed, at most k_max_stored_integer (every bound here is below it).
std::uint64_t integer_in(const setting& s, const std::string& text, std::uint64_t min,
                         std::uint64_t max) {
  assert(max <= k_max_stored_integer);
  const auto parsed = http::parse_non_negative(text);
  if (!parsed || *parsed < min || *parsed > max) {
    fail(s, quote_value(text) + " is not an integer between " + std::to_string(min) + " and " +
                std::to_string(max));
  }
  return *parsed;
}

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

void read_bot_name(const setting& s, std::optional<std::string>& target) {
  auto raw = s.raw();
  if (!raw) return;
  if (!valid_bot_name(*raw))
    fail(s, quote_value(*raw) + " is not a bot name: 1 to 32 of a-z, 0-9, _ and -");
  target = std::move(*raw);
}

}  // namespace gq::config_detail
