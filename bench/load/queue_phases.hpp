#pragma once
// The phases of a run that talk to the server: wait for it, queue the prime round and the
// waiters, wait until /status counts them, hang up the chosen ones, then hold (measure the server
// from /proc) or drain (wait for every grant), and count the answers. Called in this order.

#include <nlohmann/json.hpp>

#include "load/connection_pool.hpp"
#include "load/control_client.hpp"
#include "load/load_run.hpp"

namespace gq::bench {

// False (after saying so on stderr) when the server does not answer /health within 10 s.
bool wait_until_healthy(const options& o, control_client& ctl);

// With --prime: one request per bucket (shards 0..buckets-1), connected first, then sent together,
// and waited for (30 s at most).
void run_prime_round(load_run& run, connection_pool& cl);

// Adds --waiters connections (shards by --shards from --shard-offset), picks the ones that will
// hang up, connects them all and sends their requests (none with --connect-only).
void open_waiters(load_run& run, connection_pool& cl);

// Until /status counts every waiter still pending (the server has read every request), or
// --queued-timeout-s passes.
void wait_until_queued(load_run& run, connection_pool& cl, control_client& ctl);

// Hangs up the waiters picked to hang up and times how long /status takes to stop counting them
// (a problem beyond 1 s); results in `where`, their shards in run.hung_shards.
void hang_up_chosen(load_run& run, connection_pool& cl, control_client& ctl, nlohmann::json& where);

// hold: settle, then the server's RSS growth, threads and CPU over --cpu-window-s while the
// waiters wait; then the hang-ups.
void measure_hold(load_run& run, connection_pool& cl, control_client& ctl);

// drain: the hang-ups, then every live waiter granted (or --timeout-s).
void wait_for_drain(load_run& run, connection_pool& cl, control_client& ctl);

// Answers by status, errors, grants; any answer but 200 is a problem.
void record_outcomes(load_run& run, const connection_pool& cl);

}  // namespace gq::bench
