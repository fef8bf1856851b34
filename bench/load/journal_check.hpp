#pragma once
// With --db: the journal agrees with what the client saw (one row per grant received, none for a
// waiter that hung up) and, in drain mode, when each grant left after its due instant
// (released_at) and how the due instants of a bucket are spaced.

#include "load/connection_pool.hpp"
#include "load/load_run.hpp"

namespace gq::bench {

// Reads the journal read-only after the run; rows before --journal-seeded are left out.
void check_journal(load_run& run, const connection_pool& cl);

}  // namespace gq::bench
