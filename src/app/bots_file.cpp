#include "src/app/bots_file.hpp"

#include <toml++/toml.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string_view>
#include <utility>

#include "src/app/bots_file_values.hpp"
#include "src/app/config_setting.hpp"

namespace gq {
namespace {

using bots_file_detail::bot_entry;
using bots_file_detail::file_error;
using config_detail::quote_value;

// A thousand bots take about 200 KiB; anything much larger is the wrong file (or /dev/zero).
constexpr std::size_t k_max_bots_file_bytes = 4 * 1024 * 1024;

toml::table parse(const std::string& path) {
  const auto text = bots_file_detail::read_small_file(path, k_max_bots_file_bytes, 0, "");
  try {
    return toml::parse(text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    // The description may quote the file's text, which holds no token (tokens live in files
    // of their own); one_printable_line below keeps it one line.
    throw file_error{e.source().begin.line, std::string(e.description())};
  }
}

constexpr const char* k_no_bot = "no [[bot]] table: the file must name at least one bot";

const toml::array& bot_tables(const toml::table& document) {
  for (auto&& [key, node] : document) {
    if (key.str() != "bot") {
      // A key written above the first [[bot]] header lands here.
      throw file_error{key.source().begin.line, "unknown top-level key " + quote_value(key.str()) +
                                                    " (the file holds [[bot]] tables only)"};
    }
  }
  const auto* bots = document.get("bot");
  if (!bots) throw file_error{0, k_no_bot};
  const auto* tables = bots->as_array();
  if (tables && tables->empty()) throw file_error{0, k_no_bot};
  if (!tables || !tables->is_array_of_tables())
    throw file_error{bots->source().begin.line,
                     "bot must be [[bot]] tables, not " + bots_file_detail::kind_of(*bots)};
  return *tables;
}

// Which bot holds each token of one kind. The keys are secrets: never printed.
using token_owners = std::map<std::string_view, const bot_entry*>;

// Records `entry` as the holder of `token`; a token another bot holds already is an error on
// `entry`'s line of the token file (`line`), naming both bots and the other's line.
void claim(token_owners& owners, std::string_view token, const bot_entry& entry,
           std::int64_t bot_entry::*line, const std::string& what) {
  if (auto [first, added] = owners.try_emplace(token, &entry); !added) {
    const auto& owner = *first->second;
    throw file_error{entry.*line, "bot " + quote_value(entry.settings.name) + " and bot " +
                                      quote_value(owner.settings.name) + " (line " +
                                      std::to_string(owner.*line) + ") share " + what};
  }
}

// Names are unique; so are auth tokens across bots, since a token says whose request it is, and
// none is the operator's. So are Discord tokens: two bots of one Discord token would each spend
// the one daily budget Discord keeps for it, and together exceed it (Discord then resets it).
void check_across_bots(const std::vector<bot_entry>& entries,
                       const std::optional<std::string>& operator_token) {
  std::map<std::string_view, const bot_entry*> by_name;
  token_owners auth_owners;
  token_owners discord_owners;
  for (const auto& entry : entries) {
    const auto& name = entry.settings.name;
    if (auto [first, added] = by_name.try_emplace(name, &entry); !added) {
      throw file_error{entry.name_line, "name " + quote_value(name) +
                                            " is already the name of the bot on line " +
                                            std::to_string(first->second->line)};
    }
    if (const auto& discord_token = entry.settings.discord_token) {
      claim(discord_owners, *discord_token, entry, &bot_entry::discord_token_file_line,
            "a Discord token: they would spend one daily budget twice");
    }
    for (const auto& token : entry.settings.auth_tokens) {
      if (token == operator_token) {
        throw file_error{entry.auth_token_file_line,
                         "bot " + quote_value(name) +
                             ": auth_token_file holds the operator's token (QUEUE_AUTH_TOKEN); "
                             "give each bot tokens of its own"};
      }
      claim(auth_owners, token, entry, &bot_entry::auth_token_file_line,
            "an auth token: each token belongs to one bot");
    }
  }
}

std::vector<bot_settings> read_bots(const std::string& path,
                                    const std::optional<std::string>& operator_token) {
  const auto document = parse(path);
  const auto directory = std::filesystem::path(path).parent_path();
  std::vector<bot_entry> entries;
  for (const auto& table : bot_tables(document)) {
    entries.push_back(bots_file_detail::read_bot(*table.as_table(), directory));
  }
  check_across_bots(entries, operator_token);
  std::vector<bot_settings> bots;
  bots.reserve(entries.size());
  for (auto& entry : entries) bots.push_back(std::move(entry.settings));
  return bots;
}

}  // namespace

std::variant<std::vector<bot_settings>, std::string> read_bots_file(
    const std::string& path, const std::optional<std::string>& operator_token) {
  try {
    return read_bots(path, operator_token);
  } catch (const file_error& e) {
    const std::string where = e.line > 0 ? "line " + std::to_string(e.line) + ": " : "";
    return config_detail::one_printable_line("QUEUE_BOTS_FILE " + path + ": " + where + e.what);
  }
}

}  // namespace gq
