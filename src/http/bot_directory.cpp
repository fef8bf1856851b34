#include "src/http/bot_directory.hpp"

namespace gq::http {

void bot_directory::add(bot_key key, std::string name, const std::vector<std::string>& tokens) {
  for (const auto& token : tokens) token_owner_[token] = key;
  name_of_[key] = name;
  by_name_[name] = bot{key, name, !tokens.empty()};
}

const bot_directory::bot* bot_directory::find(std::string_view name) const {
  auto found = by_name_.find(name);
  return found == by_name_.end() ? nullptr : &found->second;
}

const bot_directory::bot* bot_directory::find(bot_key key) const {
  auto found = name_of_.find(key);
  return found == name_of_.end() ? nullptr : find(found->second);
}

const bot_directory::bot* bot_directory::owner(std::string_view token) const {
  auto found = token_owner_.find(std::string(token));
  return found == token_owner_.end() ? nullptr : find(found->second);
}

}  // namespace gq::http
