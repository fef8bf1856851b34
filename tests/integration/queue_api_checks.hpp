#pragma once
// Checks shared by the queue_api_*_test.cpp files (the core queue service through the real
// binary). The contract: docs/HTTP_API.md.

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "integration/clients.hpp"

namespace gq::integration::queue_api_checks {

inline constexpr const char* k_granted_message = "You're free to connect now! :)";

inline bool is_granted(const http_reply& reply) {
  auto body = reply.json();
  return reply.status == 200 && body.is_object() && body.contains("message") &&
         body["message"] == k_granted_message;
}

inline bool is_error_json(const nlohmann::json& body) {
  return body.is_object() && body.contains("error") && body["error"].is_string() &&
         !body["error"].get<std::string>().empty();
}

inline bool is_whole_seconds(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; });
}

// Sum of the samples of `name` in Prometheus text (labels ignored); nullopt when absent.
inline std::optional<double> metric_sum(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  std::optional<double> sum;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    const std::string value = line.substr(line.find_last_of(' ') + 1);
    sum = sum.value_or(0) + std::strtod(value.c_str(), nullptr);
  }
  return sum;
}

}  // namespace gq::integration::queue_api_checks
