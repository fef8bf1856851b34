#pragma once
// The configuration's exit-2 messages when CLI11 itself refuses the command line: what it says,
// reworded to name the variable, with every secret blanked out.

#include <deque>
#include <string>
#include <vector>

#include "src/app/config_setting.hpp"

namespace gq::config_detail {

// CLI11's own messages can quote arguments verbatim (`--discord-tokn=SECRET` is "not expected").
// Blanks out (k_redacted) the environment's values of the secret settings and every argument to a
// flag whose name contains "token".
std::string scrub_secrets(std::string message, int argc, const char* const* argv,
                          const std::deque<setting>& settings);

// Every message is printed the same way, with one newline added by the caller.
std::string without_final_newline(std::string text);

// CLI11 says "--port: 1 required PORT missing" for `--port=`; names the variable as well.
std::string explain(std::string message, const std::deque<setting>& settings);

// Unknown flags are named; values are only counted, since `--discord-tokn SECRET` puts a token
// among them.
std::string unexpected_arguments(const std::vector<std::string>& extras);

}  // namespace gq::config_detail
