#include "load/drain_analysis.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "load/clock.hpp"
#include "load/stats.hpp"

namespace gq::bench {
namespace {

void judge_rounds(load_run& run, const std::vector<std::vector<const conn*>>& per_bucket) {
  const options& o = run.o;
  auto& out = run.out;
  auto& problems = run.problems;
  const std::int64_t interval_ns = run.interval_ns;
  // Rounds: the k-th waiter grant of every bucket falls due at about the same time when the
  // buckets were primed together. A round's spread is its last minus its first response; its
  // due spread is the same for the due times (previous response of the bucket + interval), and
  // "after last due" is how long after the last of them fell due the last response left.
  struct round {
    std::int64_t lo = INT64_MAX, hi = INT64_MIN, due_lo = INT64_MAX, due_hi = INT64_MIN;
  };
  std::vector<round> rounds;
  for (auto& v : per_bucket) {
    std::size_t k = 0;
    for (std::size_t x = 0; x < v.size(); ++x) {
      const conn* c = v[x];
      if (c->prime) continue;
      if (rounds.size() <= k) rounds.emplace_back();
      auto& r = rounds[k];
      r.lo = std::min(r.lo, c->rx_kernel_ns);
      r.hi = std::max(r.hi, c->rx_kernel_ns);
      if (x > 0 || o.due_at_unix_ms > 0) {
        const std::int64_t due =
            x > 0 ? v[x - 1]->rx_kernel_ns + interval_ns : o.due_at_unix_ms * 1'000'000;
        r.due_lo = std::min(r.due_lo, due);
        r.due_hi = std::max(r.due_hi, due);
      }
      ++k;
    }
  }
  std::vector<double> spreads, due_spreads, after_due;
  for (const auto& r : rounds) {
    spreads.push_back(ms(r.hi - r.lo));
    if (r.due_lo != INT64_MAX) {
      due_spreads.push_back(ms(r.due_hi - r.due_lo));
      after_due.push_back(ms(r.hi - r.due_hi));
    }
  }
  if (lane_count(o) > 1 && !spreads.empty()) {
    out["round_spread_ms"] = stats_json(summarize(spreads));
    out["round_due_spread_ms"] = stats_json(summarize(due_spreads));
    out["round_out_after_last_due_ms"] = stats_json(summarize(after_due));
    if (spreads.size() <= 16) {
      out["round_spreads_ms"] = spreads;
      out["round_due_spreads_ms"] = due_spreads;
    }
    if (o.due_at_unix_ms > 0) {
      // The round that fell due at one instant: when its first and last 200 left.
      const auto& r = rounds.front();
      const double last_after = ms(r.hi - o.due_at_unix_ms * 1'000'000);
      out["common_due_round"] = {{"buckets", per_bucket.size()},
                                 {"first_after_due_ms", ms(r.lo - o.due_at_unix_ms * 1'000'000)},
                                 {"last_after_due_ms", last_after}};
    }
    // A round "due together" is judged by when its last 200 left after the latest due
    // instant in it (for the common-due round that instant is --due-at-unix-ms). Its spread
    // (last - first response) also carries the spread of its due instants, which each
    // bucket inherits from its own previous grant: reported, not judged.
    if (o.max_after_due_ms >= 0 && !after_due.empty()) {
      const double worst = *std::max_element(after_due.begin(), after_due.end());
      if (worst > o.max_after_due_ms)
        problems.push_back("a round left its last response " + std::to_string(worst) +
                           " ms after its latest due instant (limit " +
                           std::to_string(o.max_after_due_ms) + ")");
    }
  }
}

}  // namespace

void analyze_drain(load_run& run, const connection_pool& cl) {
  const options& o = run.o;
  auto& out = run.out;
  auto& problems = run.problems;
  const std::int64_t interval_ns = run.interval_ns;
  std::vector<std::vector<const conn*>> per_bucket(lane_count(o));
  for (const auto& c : cl.conns_) {
    if (c.status != 200) continue;
    per_bucket[c.bucket].push_back(&c);
    run.by_shard[c.shard] = &c;
  }
  std::vector<double> late_client, late_kernel;
  std::size_t starved = 0;
  std::int64_t first_rx = INT64_MAX, last_rx = INT64_MIN;
  std::int64_t first_rx_k = INT64_MAX, last_rx_k = INT64_MIN;
  std::size_t max_granted_in_bucket = 0;
  for (auto& v : per_bucket) {
    std::sort(v.begin(), v.end(),
              [](const conn* a, const conn* b) { return a->rx_kernel_ns < b->rx_kernel_ns; });
    std::size_t waiters_here = 0;
    for (std::size_t k = 0; k < v.size(); ++k) {
      const conn& c = *v[k];
      if (c.prime) continue;
      ++waiters_here;
      first_rx = std::min(first_rx, c.rx_ns);
      last_rx = std::max(last_rx, c.rx_ns);
      first_rx_k = std::min(first_rx_k, c.rx_kernel_ns);
      last_rx_k = std::max(last_rx_k, c.rx_kernel_ns);
      if (k == 0) {
        // Against the common due instant, if there is one; otherwise nothing to compare with.
        if (o.due_at_unix_ms > 0)
          late_kernel.push_back(ms(c.rx_kernel_ns - o.due_at_unix_ms * 1'000'000));
        continue;
      }
      const conn& p = *v[k - 1];
      // Only a waiter that was already queued when its turn came due measures the pacing.
      if (c.sent_ns > p.rx_ns + interval_ns) {
        ++starved;
        continue;
      }
      late_client.push_back(ms(c.rx_ns - p.rx_ns - interval_ns));
      late_kernel.push_back(ms(c.rx_kernel_ns - p.rx_kernel_ns - interval_ns));
    }
    max_granted_in_bucket = std::max(max_granted_in_bucket, waiters_here);
  }
  judge_rounds(run, per_bucket);
  const stats sc = summarize(late_client), sk = summarize(late_kernel);
  out["lateness_client_ms"] = stats_json(sc);
  out["lateness_kernel_ms"] = stats_json(sk);
  out["starved_excluded"] = starved;
  if (first_rx != INT64_MAX) {
    const double ideal =
        static_cast<double>(max_granted_in_bucket > 0 ? max_granted_in_bucket - 1 : 0) *
        o.interval_ms;
    const double drain = ms(last_rx_k - first_rx_k);
    out["drain_ms"] = drain;
    out["drain_client_ms"] = ms(last_rx - first_rx);
    out["ideal_drain_ms"] = ideal;
    if (ideal > 0) {
      out["drain_error_percent"] = 100.0 * (drain - ideal) / ideal;
      if (std::abs(drain - ideal) > 0.01 * ideal)
        problems.push_back("drain time off ideal by more than 1 %");
    }
    if (o.prime) out["first_after_prime_ms"] = ms(first_rx_k - run.prime_first_ns);
  }
  if (sk.n && sk.min < 0) problems.push_back("a grant arrived early (kernel timestamps)");
  // Client read times are not a pacing check: when the client's loop is late reading one
  // response (a round of 256 arriving together, or the client descheduled), the next gap in
  // that bucket looks short. Reported ("negative" in lateness_client_ms), not a problem.
  if (sk.n && o.max_p99_ms >= 0 && sk.p99 > o.max_p99_ms)
    problems.push_back("p99 lateness above " + std::to_string(o.max_p99_ms) +
                       " ms (kernel timestamps)");
}

}  // namespace gq::bench
