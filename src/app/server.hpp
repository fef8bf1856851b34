#pragma once
// Runs the queue server until SIGINT/SIGTERM or a fatal error; returns the process exit code.

#include "src/app/config.hpp"

namespace gq {

int run_server(const server_config& config);

}  // namespace gq
