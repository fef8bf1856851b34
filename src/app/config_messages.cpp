#include "src/app/config_messages.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

namespace gq::config_detail {

std::string scrub_secrets(std::string message, int argc, const char* const* argv,
                          const std::deque<setting>& settings) {
  std::vector<std::string> secrets;
  for (const auto& s : settings) {
    if (!s.secret || !s.env) continue;
    if (const char* value = std::getenv(s.env)) secrets.emplace_back(value);
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

std::string without_final_newline(std::string text) {
  while (text.ends_with('\n')) text.pop_back();
  return text;
}

std::string explain(std::string message, const std::deque<setting>& settings) {
  for (const auto& s : settings) {
    const std::string prefix = std::string(s.flag) + ":";
    if (!message.starts_with(prefix)) continue;
    if (message.ends_with("missing")) return "invalid " + s.label() + ": a value is required";
    return "invalid " + s.label() + ":" + message.substr(prefix.size());
  }
  return message;
}

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

}  // namespace gq::config_detail
