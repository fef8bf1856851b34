// bench/load: a single-threaded epoll load client for gateway-queue.
//
// Opens many waiting queue requests (`GET /?shard=S`) on raw non-blocking sockets, records when
// each 200 arrives (steady_clock at read() and the kernel's receive timestamp, SO_TIMESTAMPNS),
// and measures the server from /proc while it holds them. Scenarios and numbers:
// docs/BENCHMARKS.md; driver: bench/run.sh. The parts live in bench/load/.
//
// Modes:
//   hold   open N waiters against a server with a huge interval (only the first per bucket is
//          granted), then measure the server's RSS, threads and CPU over a window while they
//          wait; optionally hang up a fraction and time how fast /status stops counting them.
//          With --prime the growth is counted from after the prime round.
//   drain  open N waiters (optionally behind a first "prime" round, one per bucket), wait for
//          every live one to be granted, and compute drain time vs ideal and per-bucket lateness
//          (receive time - (previous receive in that bucket + interval)) from the kernel's
//          receive timestamps (= the server's send() on loopback) and the client's read time.
//          With --db it checks the journal (rows = grants, none for hung-up waiters) and, as
//          released_at is the grant's *due* instant stamped when its permit was committed ahead
//          of time, reports due -> send (how late each 200 left after its due instant) and the
//          spacing of the due instants (a server-side echo of the previous grant's lateness).
//          With --burst-s the requests arrive in a burst while rounds fall due (burst_phase.hpp).
// --bots N spreads every mode's requests over the bots b0..b<N-1> of a bots file (/bots/NAME/);
// lateness, rounds and the journal checks are then per bucket of each bot.
//
// Output: a human summary on stderr, one JSON object on stdout. Exit 0 when the run found no
// problem, 3 when it did, 1 when the server does not answer, 2 on a bad command line.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "load/burst_phase.hpp"
#include "load/connection_pool.hpp"
#include "load/control_client.hpp"
#include "load/drain_analysis.hpp"
#include "load/journal_check.hpp"
#include "load/load_run.hpp"
#include "load/options.hpp"
#include "load/queue_phases.hpp"
#include "load/report.hpp"

int main(int argc, char** argv) {
  using namespace gq::bench;
  options o;
  CLI::App app{"gateway-queue load client (bench/load)"};
  add_options(app, o);
  CLI11_PARSE(app, argc, argv);
  if (o.connect_only && o.mode != "hold") {
    std::fprintf(stderr, "load: --connect-only needs --mode hold\n");
    return 2;
  }
  if (o.burst_s > 0 && (o.mode != "drain" || !o.prime)) {
    std::fprintf(stderr, "load: --burst-s needs --mode drain and --prime\n");
    return 2;
  }
  resolve_options(o);
  raise_nofile();
  load_run run(o);

  control_client ctl(o);
  if (!wait_until_healthy(o, ctl)) return 1;
  run.idle = sample_proc(o.server_pid, true);
  run.out["server_idle"] = proc_json(run.idle);

  connection_pool cl(o);
  if (o.burst_s > 0) {
    open_waiters(run, cl);  // connected, requests held back
    run_prime_round(run, cl);
    send_burst(run, cl);
  } else {
    run_prime_round(run, cl);
    if (o.mode == "hold" && o.prime) {
      // The waiters' cost, without what the prime round's grants left (ledger books, rests).
      run.idle = sample_proc(o.server_pid, true);
      run.out["server_primed"] = proc_json(run.idle);
    }
    open_waiters(run, cl);
  }
  wait_until_queued(run, cl, ctl);
  if (o.mode == "hold")
    measure_hold(run, cl, ctl);
  else
    wait_for_drain(run, cl, ctl);
  record_outcomes(run, cl);

  if (o.mode == "drain") analyze_drain(run, cl);
  if (o.mode == "drain") analyze_burst(run, cl);
  if (!o.db.empty()) check_journal(run, cl);
  if (!o.grants_csv.empty()) write_grants_csv(o.grants_csv, cl);
  run.out["problems"] = run.problems;
  run.out["ok"] = run.problems.empty();

  print_summary(run, std::cerr);
  std::cout << run.out.dump() << std::endl;
  return run.problems.empty() ? 0 : 3;
}
