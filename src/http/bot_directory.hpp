#pragma once
// The bots a queue serves, as the HTTP edge needs to know them: each bot's name and key, and
// which bearer tokens belong to which bot. Built by the server from its bots (the variables, or
// the bots file), rebuilt whole on a reload; the edge reads it, never changes it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/core/bot.hpp"

namespace gq::http {

class bot_directory {
 public:
  struct bot {
    bot_key key = 0;
    std::string name;
    bool has_tokens = false;  // its requests need one of its tokens (or the operator's)
  };

  // Names are unique and valid, a token belongs to one bot (the bots file's checks): a repeated
  // name or token replaces the earlier one.
  void add(bot_key key, std::string name, const std::vector<std::string>& tokens);

  const bot* find(std::string_view name) const;
  const bot* find(bot_key key) const;
  // The bot a bearer token belongs to. A hash lookup: the time it takes depends on the presented
  // token alone (its hash, then a comparison only with a stored token of the same hash), so it
  // tells an attacker nothing about the stored tokens.
  const bot* owner(std::string_view token) const;
  const bot* default_bot() const { return find(k_default_bot); }
  // Some bot has tokens of its own: a bearer token then names a bot or is refused.
  bool any_tokens() const { return !token_owner_.empty(); }

  // Every bot, by name.
  const std::map<std::string, bot, std::less<>>& bots() const { return by_name_; }

 private:
  std::map<std::string, bot, std::less<>> by_name_;
  std::unordered_map<bot_key, std::string> name_of_;
  std::unordered_map<std::string, bot_key> token_owner_;
};

}  // namespace gq::http
