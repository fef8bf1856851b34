#pragma once
// `gateway-queue plan`: how long a full boot of N shards takes through this queue, per bucket,
// what it leaves of the daily budget, and whether it has to wait for the daily reset. The
// arithmetic is the estimator behind GET /status (src/pacing/eta.hpp, boot_plan.hpp).
//
// Exit codes: 0 the boot fits in the remaining budget; 3 it does not (under hold it waits for the
// reset, which the plan includes; under reject some shards would be refused); 1 Discord's limits
// could not be read; 2 a bad value (as for every command).

#include <ostream>
#include <string>

#include "src/app/config.hpp"
#include "src/pacing/boot_plan.hpp"

namespace gq {

constexpr int k_plan_exceeds_budget = 3;

// The limits a plan is made with, once flags, Discord and configuration are combined.
struct plan_inputs {
  std::uint64_t shards = 0;
  std::uint32_t max_concurrency = k_default_max_concurrency;
  unix_ms interval_ms = k_default_identify_interval.count();
  eta_budget budget;
  unix_ms now = 0;
  std::string source;  // "discord" or "config": where the limits not given as flags came from
  std::uint32_t reserve = 0;  // kept for reconnects: a boot is not granted from it
  std::string bot;            // --bot, a bot of the bots file; empty: the variables'
};

// The budget a boot may spend: the remaining and the total less the reserve.
eta_budget boot_budget(const plan_inputs& inputs);

// Prints the plan for people (`json` false) or as one JSON object; returns the exit code.
int print_plan(const plan_inputs& inputs, const boot_plan& plan, bool json, std::ostream& out);

int run_plan_command(const plan_command& request);

}  // namespace gq
