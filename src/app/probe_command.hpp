#pragma once
// `gateway-queue probe`: asks a running server whether it serves (GET /health), for container
// health checks that have neither curl nor a shell with /dev/tcp (Debian's /bin/sh is dash).

#include <string>

#include "src/app/config.hpp"

namespace gq {

// The address to connect to for a server bound to `host`: a wildcard bind (0.0.0.0, ::) is
// reached on loopback; anything else as given.
std::string probe_target(const std::string& host);

// Exit code 0 when GET http://HOST:PORT/health answers 200 within the timeout; otherwise 1, with
// one line on stderr saying why (refused, timed out, or the status it got).
int run_probe_command(const probe_command& request);

}  // namespace gq
