#include "src/app/config_option_set.hpp"

#include <CLI/CLI.hpp>
#include <cassert>

namespace gq::config_detail {

setting& option_registry::add(CLI::App& to, const option_name& name, const std::string& help,
                              const std::string& default_shown, bool secret) {
  auto& s = settings_.emplace_back(setting{name.env, name.flag, secret, {}, nullptr});
  // The last of a repeated flag wins, so that arguments appended to a Docker CMD override it.
  s.option = to.add_option(name.flag, s.value, help)
                 ->type_name(name.type_name)
                 ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  if (name.env) s.option->envname(name.env);
  if (!default_shown.empty()) s.option->default_str(default_shown);
  return s;
}

void option_registry::add_file(CLI::App& to, setting& s) {
  const auto& env = file_names_.emplace_back(std::string(s.env) + k_file_env_suffix);
  const auto& flag = file_names_.emplace_back(std::string(s.flag) + k_file_flag_suffix);
  const auto help = "Read " + std::string(s.env) + " from this file (one final newline dropped)";
  s.file = &add(to, {flag.c_str(), env.c_str(), "PATH"}, help, "", false);
}

std::string expand_help(std::string help, const std::string& range,
                        const std::string& default_text) {
  for (const auto& [placeholder, text] :
       {std::pair<std::string_view, const std::string&>{"{range}", range},
        std::pair<std::string_view, const std::string&>{"{default}", default_text}}) {
    if (const auto at = help.find(placeholder); at != std::string::npos) {
      assert(!text.empty() && "a placeholder with nothing to stand for");
      help.replace(at, placeholder.size(), text);
    }
  }
  return help;
}

}  // namespace gq::config_detail
