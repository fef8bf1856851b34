#pragma once
// The parts of the bots file (src/app/bots_file.hpp) below the file itself: one `[[bot]]`
// table's keys, their checks, and the token files they name.

#include <toml++/toml.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "src/app/bots_file.hpp"

namespace gq::bots_file_detail {

// What is wrong, and on which line of the bots file (0: the file as a whole). Thrown while the
// file is read and turned into read_bots_file's one-line message; `what` never holds a token.
struct file_error {
  std::int64_t line = 0;
  std::string what;
};

// One bot as read, with the lines its later checks (across bots) name.
struct bot_entry {
  bot_settings settings;
  std::int64_t line = 0;  // its `[[bot]]` header
  std::int64_t name_line = 0;
  std::int64_t discord_token_file_line = 0;  // 0: no discord_token_file
  std::int64_t auth_token_file_line = 0;     // 0: no auth_token_file
};

// The `[[bot]]` table `table`; relative token file paths are relative to `directory`.
bot_entry read_bot(const toml::table& table, const std::filesystem::path& directory);

// The contents of a file of at most `max_bytes`; otherwise throws file_error{line, "<subject>:
// <why>"} (`bot "a": discord_token_file "a.token"`; empty: the bots file itself), which never
// quotes the contents.
std::string read_small_file(const std::filesystem::path& file, std::size_t max_bytes,
                            std::int64_t line, const std::string& subject);

// "a string", "an integer", ...: what a TOML value is, for the messages.
std::string kind_of(const toml::node& node);

}  // namespace gq::bots_file_detail
