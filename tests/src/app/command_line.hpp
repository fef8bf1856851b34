#pragma once
// Runs parse_command_line on an argument list, as main() would with argv.

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "src/app/config.hpp"

namespace gq::testing {

inline command parse_args(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"gateway-queue"};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// The parsed server_config or history_command; a test failure if the parse asked to exit.
template <class Parsed>
Parsed parse_as(const std::vector<std::string>& args) {
  auto result = parse_args(args);
  if (auto* exit = std::get_if<exit_request>(&result)) {
    ADD_FAILURE() << "exit " << exit->code << ": " << exit->message;
    return {};
  }
  return std::get<Parsed>(result);
}

inline exit_request parse_exit(const std::vector<std::string>& args) {
  auto result = parse_args(args);
  if (auto* exit = std::get_if<exit_request>(&result)) return *exit;
  ADD_FAILURE() << "expected an exit request";
  return {-1, ""};
}

}  // namespace gq::testing
