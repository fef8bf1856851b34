#include "load/burst_phase.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "load/clock.hpp"
#include "load/stats.hpp"

namespace gq::bench {

void send_burst(load_run& run, connection_pool& cl) {
  const options& o = run.o;
  if (run.prime_first_ns == 0) {
    run.problems.push_back("burst: no prime grant to time the burst by");
    return;
  }
  const std::size_t first = run.first, n = o.waiters;
  const std::int64_t span = static_cast<std::int64_t>(o.burst_s * 1e9);
  const std::int64_t start =
      run.prime_first_ns + run.interval_ns - static_cast<std::int64_t>(o.burst_lead_ms * 1e6);
  while (real_ns() < start) cl.pump(0);
  run.burst_from_ns = real_ns();
  std::size_t sent = 0;
  while (sent < n) {
    // Requests written so far follow a straight line from 0 at start to n at start + span.
    const std::int64_t t = real_ns() - run.burst_from_ns;
    const std::size_t due =
        t >= span ? n
                  : static_cast<std::size_t>(static_cast<double>(n) * static_cast<double>(t) /
                                             static_cast<double>(span)) +
                        1;
    const std::size_t upto = std::min(n, due);
    cl.send_deferred(first + sent, first + upto);
    sent = upto;
    cl.pump(0);  // read the grants meanwhile (their kernel stamps do not depend on it)
  }
  run.burst_to_ns = real_ns();
  run.out["burst_sent_ms"] = ms(run.burst_to_ns - run.burst_from_ns);
}

void analyze_burst(load_run& run, const connection_pool& cl) {
  const options& o = run.o;
  if (run.burst_from_ns == 0) return;
  std::vector<std::vector<const conn*>> per_bucket(lane_count(o));
  for (const auto& c : cl.conns_)
    if (c.status == 200) per_bucket[c.bucket].push_back(&c);
  std::vector<double> in_window, all;
  std::int64_t last_rx = 0;
  for (auto& v : per_bucket) {
    std::sort(v.begin(), v.end(),
              [](const conn* a, const conn* b) { return a->rx_kernel_ns < b->rx_kernel_ns; });
    for (std::size_t k = 1; k < v.size(); ++k) {
      const conn& c = *v[k];
      const conn& p = *v[k - 1];
      last_rx = std::max(last_rx, c.rx_kernel_ns);
      // As analyze_drain: a waiter that arrived after its turn was due measures nothing.
      if (c.prime || c.sent_ns > p.rx_ns + run.interval_ns) continue;
      const std::int64_t due = p.rx_kernel_ns + run.interval_ns;
      const double late = ms(c.rx_kernel_ns - due);
      all.push_back(late);
      if (due >= run.burst_from_ns && due <= run.burst_to_ns) in_window.push_back(late);
    }
  }
  const stats w = summarize(in_window);
  auto unix_ms = [](std::int64_t ns) { return static_cast<double>(ns / 1000) / 1000.0; };
  run.out["burst"] = {{"window_unix_ms", {unix_ms(run.burst_from_ns), unix_ms(run.burst_to_ns)}},
                      {"drain_window_unix_ms", {unix_ms(run.burst_from_ns), unix_ms(last_rx)}},
                      {"lateness_due_in_window_ms", stats_json(w)},
                      {"lateness_drain_ms", stats_json(summarize(all))}};
  if (w.n == 0)
    run.problems.push_back("burst: no grant fell due while the requests arrived");
  else if (w.p99 > 1.0 || w.max > 5.0)
    run.problems.push_back("burst: grants due while requests arrived: p99 " +
                           std::to_string(w.p99) + " ms, max " + std::to_string(w.max) +
                           " ms (goal 1 / 5 ms; compare the machine stalls in the window)");
}

}  // namespace gq::bench
