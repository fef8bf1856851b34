#pragma once
// drain mode, client side: per-bucket lateness of each grant against the previous grant of its
// bucket plus the interval (kernel receive timestamps and client read times), the drain time
// against the ideal, and the rounds (the k-th grant of every bucket). Fills run.by_shard for
// check_journal.

#include "load/connection_pool.hpp"
#include "load/load_run.hpp"

namespace gq::bench {

void analyze_drain(load_run& run, const connection_pool& cl);

}  // namespace gq::bench
