// gateway-queue: a shared IDENTIFY gate for Discord bots. See README.md and docs/.
#include <iostream>
#include <type_traits>
#include <variant>

#include "src/app/config.hpp"
#include "src/app/history_command.hpp"
#include "src/app/probe_command.hpp"
#include "src/app/plan_command.hpp"
#include "src/app/server.hpp"

int main(int argc, char** argv) {
  const auto command = gq::parse_command_line(argc, argv);
  return std::visit(
      [](const auto& c) -> int {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, gq::exit_request>) {
          (c.code == 0 ? std::cout : std::cerr) << c.message << (c.message.empty() ? "" : "\n");
          return c.code;
        } else if constexpr (std::is_same_v<T, gq::history_command>) {
          return gq::run_history_command(c);
        } else if constexpr (std::is_same_v<T, gq::probe_command>) {
          return gq::run_probe_command(c);
        } else if constexpr (std::is_same_v<T, gq::plan_command>) {
          return gq::run_plan_command(c);
        } else {
          return gq::run_server(c);
        }
      },
      command);
}
