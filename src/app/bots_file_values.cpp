#include "src/app/bots_file_values.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "src/app/capped_file.hpp"
#include "src/app/config_setting.hpp"
#include "src/app/config_tables.hpp"
#include "src/core/bot.hpp"

namespace gq::bots_file_detail {
namespace {

using config_detail::bounds;
using config_detail::quote_value;

std::int64_t line_of(const toml::node& node) { return node.source().begin.line; }

bool has_space_or_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

// Where a key's value is, and whose it is, for its messages.
struct key_context {
  std::string_view key;
  std::string who;  // `bot "alpha"`
  std::int64_t line;
  const std::filesystem::path& directory;
};

[[noreturn]] void fail(const key_context& at, const std::string& what) {
  throw file_error{at.line, at.who + ": " + std::string(at.key) + " " + what};
}

std::uint32_t integer_in(const toml::node& node, const key_context& at, bounds range) {
  const std::string expected = "must be an integer between " + std::to_string(range.min) + " and " +
                               std::to_string(range.max) + ", not ";
  const auto* integer = node.as_integer();
  if (!integer) fail(at, expected + kind_of(node));
  const std::int64_t value = integer->get();
  if (value < 0 || static_cast<std::uint64_t>(value) < range.min ||
      static_cast<std::uint64_t>(value) > range.max)
    fail(at, expected + std::to_string(value));
  return static_cast<std::uint32_t>(value);  // every bound here fits
}

const std::string& string_in(const toml::node& node, const key_context& at, const char* expected) {
  const auto* text = node.as_string();
  if (!text) fail(at, std::string("must be ") + expected + ", not " + kind_of(node));
  return text->get();
}

// A token file's path as written (for the messages) and where it is: relative to the bots file.
struct token_file {
  std::string written;
  std::filesystem::path resolved;
  std::string label;  // `discord_token_file "tokens/alpha"`
};

token_file token_file_in(const toml::node& node, const key_context& at) {
  const auto& written = string_in(node, at, "a string (a path)");
  if (written.empty()) fail(at, "must not be empty");
  return {written, at.directory / written, std::string(at.key) + " " + quote_value(written)};
}

void read_discord_token(const toml::node& node, const key_context& at, bot_entry& entry) {
  const auto file = token_file_in(node, at);
  auto token = read_small_file(file.resolved, config_detail::k_max_value_file_bytes, at.line,
                               at.who + ": " + file.label);
  // `echo token > file` and editors end the file with a newline: not part of the token.
  if (token.ends_with('\n')) token.pop_back();
  if (token.empty()) fail(at, quote_value(file.written) + " is empty");
  if (has_space_or_control(token)) {
    std::string what =
        quote_value(file.written) + ": the token must not contain whitespace or control characters";
    if (token.starts_with(k_bot_token_scheme)) what += "; give it without the \"Bot \" prefix";
    fail(at, what);
  }
  entry.settings.discord_token = std::move(token);
  entry.discord_token_file_line = at.line;
}

void read_auth_tokens(const toml::node& node, const key_context& at, bot_entry& entry) {
  const auto file = token_file_in(node, at);
  const auto text = read_small_file(file.resolved, config_detail::k_max_value_file_bytes, at.line,
                                    at.who + ": " + file.label);
  auto& tokens = entry.settings.auth_tokens;
  std::size_t file_line = 0;
  for (std::size_t begin = 0; begin < text.size();) {
    const auto end = std::min(text.find('\n', begin), text.size());
    std::string_view token(text.data() + begin, end - begin);
    begin = end + 1;
    ++file_line;
    if (token.ends_with('\r')) token.remove_suffix(1);  // a file written on Windows
    if (token.find_first_not_of(" \t") == std::string_view::npos) continue;  // a blank line
    if (has_space_or_control(token)) {
      std::string what = quote_value(file.written) + ", line " + std::to_string(file_line) +
                         ": a token must not contain whitespace or control characters";
      if (token.starts_with("Bearer ")) what += "; give it without the \"Bearer \" prefix";
      fail(at, what);
    }
    // The same token twice in one bot's file is harmless: it is kept once.
    if (std::find(tokens.begin(), tokens.end(), token) == tokens.end()) tokens.emplace_back(token);
  }
  if (tokens.empty()) fail(at, quote_value(file.written) + " holds no token");
  entry.auth_token_file_line = at.line;
}

using key_reader = void (*)(const toml::node&, const key_context&, bot_entry&);
struct known_key {
  std::string_view name;
  key_reader read;
};

// Every key a `[[bot]]` table may hold; each integer is checked against its variable's bounds
// (src/app/config_tables.hpp).
constexpr known_key k_known_keys[] = {
    {"name", [](const toml::node&, const key_context&, bot_entry&) {}},  // read first, below
    {"discord_token_file", read_discord_token},
    {"auth_token_file", read_auth_tokens},
    {"max_concurrency",
     [](const toml::node& node, const key_context& at, bot_entry& entry) {
       entry.settings.max_concurrency = integer_in(node, at, config_detail::k_concurrency_bounds);
     }},
    {"daily_limit",
     [](const toml::node& node, const key_context& at, bot_entry& entry) {
       entry.settings.daily_limit = integer_in(node, at, config_detail::k_daily_limit_bounds);
     }},
    {"identify_interval_ms",
     [](const toml::node& node, const key_context& at, bot_entry& entry) {
       entry.settings.identify_interval =
           std::chrono::milliseconds{integer_in(node, at, config_detail::k_interval_bounds)};
     }},
    {"on_exhausted",
     [](const toml::node& node, const key_context& at, bot_entry& entry) {
       const auto wanted = config_detail::lowercase(string_in(node, at, "\"hold\" or \"reject\""));
       for (const auto& [name, policy] : config_detail::k_exhausted_choices) {
         if (wanted == name) {
           entry.settings.on_exhausted = policy;
           return;
         }
       }
       fail(at, "must be \"hold\" or \"reject\", not " + quote_value(node.as_string()->get()));
     }},
    {"shard_hourly_limit",
     [](const toml::node& node, const key_context& at, bot_entry& entry) {
       entry.settings.shard_hourly_limit =
           integer_in(node, at, config_detail::k_shard_hourly_limit_bounds);
     }},
    {"reserve",
     [](const toml::node& node, const key_context& at, bot_entry& entry) {
       entry.settings.reserve = integer_in(node, at, config_detail::k_session_starts_bounds);
     }},
};

[[noreturn]] void unknown_key(std::string_view key, const key_context& at) {
  std::string what = at.who + ": unknown key " + quote_value(key);
  // Never echo the value: an unknown key may well hold a token pasted in.
  if (key == "discord_token" || key == "auth_token") {
    what += " (tokens are read from files: " + std::string(key) + "_file)";
  } else {
    std::string known;
    for (const auto& k : k_known_keys) known += (known.empty() ? "" : ", ") + std::string(k.name);
    what += " (known: " + known + ")";
  }
  throw file_error{at.line, what};
}

}  // namespace

bot_entry read_bot(const toml::table& table, const std::filesystem::path& directory) {
  bot_entry entry;
  entry.line = table.source().begin.line;
  constexpr const char* k_name_rule = "1 to 32 of a-z, 0-9, _ and -";
  const auto* name = table.get("name");
  if (!name)
    throw file_error{entry.line, std::string("[[bot]] without a name (") + k_name_rule + ")"};
  entry.name_line = line_of(*name);
  const auto& text = string_in(*name, {"name", "[[bot]]", entry.name_line, directory}, "a string");
  if (!valid_bot_name(text))
    throw file_error{entry.name_line, "name " + quote_value(text) + " is not " + k_name_rule};
  entry.settings.name = text;

  const std::string who = "bot " + quote_value(text);
  // toml++ keeps a table's keys sorted: of several bad keys, the first by name is reported.
  for (auto&& [key, node] : table) {
    // A named copy: clang (C++20 as it implements it) lets no lambda capture a structured binding.
    const std::string_view key_name = key.str();
    const key_context at{key_name, who, key.source().begin.line, directory};
    const auto known = std::find_if(std::begin(k_known_keys), std::end(k_known_keys),
                                    [&](const known_key& k) { return k.name == key_name; });
    if (known == std::end(k_known_keys)) unknown_key(key_name, at);
    known->read(node, at, entry);
  }
  return entry;
}

std::string read_small_file(const std::filesystem::path& file, std::size_t max_bytes,
                            std::int64_t line, const std::string& subject) {
  const std::string prefix = subject.empty() ? "" : subject + ": ";
  auto read = read_capped_file(file.string(), max_bytes);
  if (auto* error = std::get_if<capped_file_error>(&read)) {
    if (error->problem == capped_file_problem::too_large)
      throw file_error{line, prefix + "larger than " + std::to_string(max_bytes) + " bytes"};
    throw file_error{line, prefix + "cannot read: " + std::strerror(error->error_number)};
  }
  return std::get<std::string>(std::move(read));
}

std::string kind_of(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date or time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

}  // namespace gq::bots_file_detail
