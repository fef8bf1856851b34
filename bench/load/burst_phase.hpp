#pragma once
// The arrival burst (--burst-s): every waiter is connected without a request, the prime round is
// granted, and then all the requests are written spread evenly over --burst-s, starting
// --burst-lead-ms before the prime round's next due instant, so that rounds fall due while the
// requests are still arriving. Then the lateness of the grants due within that window, apart from
// the whole drain's.

#include "load/connection_pool.hpp"
#include "load/load_run.hpp"

namespace gq::bench {

// After open_waiters (deferred) and run_prime_round: writes the waiters' requests as above and
// records the window in run.burst_from_ns / burst_to_ns. A problem when there was no prime grant.
void send_burst(load_run& run, connection_pool& cl);

// After analyze_drain: out["burst"] = the window (unix ms), the lateness (kernel receive stamp
// minus due instant, as analyze_drain) of the grants due within it and of the whole drain, and
// the drain's window. A problem when the in-window p99 is above 1 ms or its max above 5 ms.
void analyze_burst(load_run& run, const connection_pool& cl);

}  // namespace gq::bench
