#pragma once
// What one run of bench/load has measured so far. main (bench/load.cpp) calls the phases in
// order (queue_phases.hpp, drain_analysis.hpp, journal_check.hpp, report.hpp); each reads what
// the earlier ones left here and adds its own numbers to `out` and anything wrong to `problems`.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "load/connection_pool.hpp"
#include "load/options.hpp"
#include "load/proc_sample.hpp"

namespace gq::bench {

// Raises this process's soft limit on open files to the hard limit (19,000 connections need it).
void raise_nofile();

struct load_run {
  // Starts the JSON line with the run's parameters; call after raise_nofile.
  explicit load_run(const options& opts);

  const options& o;
  int sources;               // source addresses 127.0.0.1.. the connections are spread over
  std::int64_t interval_ns;  // --interval-ms
  nlohmann::json out;        // the JSON line printed on stdout
  std::vector<std::string> problems;  // non-empty: the run failed (exit 3)

  proc_sample idle;                 // the server before any waiter
  std::int64_t prime_first_ns = 0;  // kernel time of the prime round's first grant
  std::size_t first = 0;            // index of the first waiter (after the prime round)
  std::int64_t connect_start = 0;   // steady time the waiters started connecting
  std::size_t connected = 0;        // waiters connected (and sent, unless --connect-only)
  std::optional<double> queued_s;   // when /status counted them all, from connect_start
  std::int64_t burst_from_ns = 0;   // realtime: --burst-s, the first request of the burst written
  std::int64_t burst_to_ns = 0;     // realtime: the last one written
  std::unordered_set<std::uint64_t> hung_shards;            // waiters that hung up
  std::unordered_map<std::uint64_t, const conn*> by_shard;  // granted, drain mode only
};

}  // namespace gq::bench
