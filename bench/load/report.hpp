#pragma once
// What a run leaves behind besides its JSON line: the human summary and, with --grants-csv,
// every connection's times.

#include <ostream>
#include <string>

#include "load/connection_pool.hpp"
#include "load/load_run.hpp"

namespace gq::bench {

// One line per connection: shard,bucket,prime,status,state,sent_ns,rx_ns,rx_kernel_ns.
void write_grants_csv(const std::string& path, const connection_pool& cl);

// The run in a few lines, then OK or one PROBLEM line per problem.
void print_summary(const load_run& run, std::ostream& to);

}  // namespace gq::bench
