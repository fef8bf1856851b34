#pragma once
// `gateway-queue history`: prints journal rows as GET /history would, with no server running.

#include "src/app/config.hpp"

namespace gq {

int run_history_command(const history_command& request);

}  // namespace gq
