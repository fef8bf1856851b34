#pragma once
// `gateway-queue probe`: asks a running server whether it serves (GET /health), for container
// health checks that have neither curl nor a shell with /dev/tcp (Debian's /bin/sh is dash); with
// --ready, whether it is the active queue (GET /ready: 503 on a standby), for load balancers and
// keepalived, which must send shards to that one alone.

#include <string>

#include "src/app/config.hpp"

namespace gq {

// The address to connect to for a server bound to `host`: a wildcard bind (0.0.0.0, ::) is
// reached on loopback; anything else as given.
std::string probe_target(const std::string& host);

// Exit code 0 when GET http://HOST:PORT/health (/ready with request.ready) answers 200 within the
// timeout; otherwise 1, with one line on stderr saying why (refused, timed out, or the status).
int run_probe_command(const probe_command& request);

}  // namespace gq
