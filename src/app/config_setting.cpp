#include "src/app/config_setting.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cassert>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "src/app/discord_client.hpp"
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

std::string setting::label() const {
  return env ? std::string(env) + " (" + flag + ")" : std::string(flag);
}

std::optional<std::string> setting::raw() const {
  std::optional<std::string> result;
  if (option->count() > 0) {
    result = value;
  } else if (env) {
    if (const char* from_env = std::getenv(env)) result = from_env;
  }
  if (secret && result && result->empty()) result.reset();
  return result;
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

}  // namespace gq::config_detail
