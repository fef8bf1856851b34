#pragma once
// Whether the queue is reachable beyond this machine without a token: then anyone who can connect
// can fill the queue and spend the daily session budget (docs/SECURITY.md). The queue stays
// drop-in compatible and starts anyway, but says so at start.

#include <optional>
#include <string>
#include <string_view>

#include "src/app/config.hpp"

namespace gq {

// True for an address only this machine can reach: 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z)
// and the name `localhost` (any case, with or without a final dot). Any other name is taken as
// reachable from the network, since what it resolves to is not ours to know.
bool is_loopback_host(std::string_view host);

// The warning to log at start when HOST is not loopback and QUEUE_AUTH_TOKEN is unset, else
// nullopt.
std::optional<std::string> exposure_warning(const server_config& config);

}  // namespace gq
