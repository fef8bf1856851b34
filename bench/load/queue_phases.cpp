#include "load/queue_phases.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "load/clock.hpp"
#include "load/proc_sample.hpp"

namespace gq::bench {

using json = nlohmann::json;
namespace {

// Hang-up choice: by position k within the bucket's queue, so that every bucket loses the same
// fraction and hung-up waiters alternate with live ones.
bool chosen(std::size_t k, double f) {
  return std::floor(static_cast<double>(k + 1) * f) > std::floor(static_cast<double>(k) * f);
}

// A bot's shard `s` as sent with --bots: its bucket (s % buckets) kept, and unique across bots,
// so that a journal row's shard names its request. Without --bots it is `s`.
std::uint64_t unique_shard(const options& o, std::uint32_t bot, std::uint64_t s) {
  const std::uint64_t buckets = o.buckets;
  return s % buckets + buckets * (bot + static_cast<std::uint64_t>(bot_count(o)) * (s / buckets));
}

}  // namespace

bool wait_until_healthy(const options& o, control_client& ctl) {
  const auto deadline = steady::now() + std::chrono::seconds(10);
  while (!ctl.healthy()) {
    if (steady::now() > deadline) {
      std::fprintf(stderr, "load: %s does not answer /health\n", o.url.c_str());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

void run_prime_round(load_run& run, connection_pool& cl) {
  const options& o = run.o;
  auto& out = run.out;
  auto& problems = run.problems;
  const int sources = run.sources;
  std::int64_t prime_last_ns = 0;
  if (o.prime) {
    const std::size_t first = cl.conns_.size();
    const std::size_t lanes = lane_count(o);
    // Round 0 of every lane: shard bucket + buckets x bot (see unique_shard).
    for (std::uint32_t bot = 0; bot < bot_count(o); ++bot)
      for (std::uint32_t b = 0; b < o.buckets; ++b)
        cl.add(b + static_cast<std::uint64_t>(o.buckets) * bot, bot * o.buckets + b, true, bot);
    cl.connect_range(first, first + lanes, sources);
    cl.send_deferred(first, first + lanes);
    const auto deadline = steady_ns() + static_cast<std::int64_t>(30e9);
    while (cl.count(state::waiting, true) > 0 && steady_ns() < deadline) cl.pump(50);
    std::vector<std::int64_t> t;
    for (const auto& c : cl.conns_)
      if (c.prime && c.status == 200) t.push_back(c.rx_kernel_ns);
    if (t.size() != lanes)
      problems.push_back("prime round: " + std::to_string(t.size()) + " of " +
                         std::to_string(lanes) + " granted");
    if (!t.empty()) {
      run.prime_first_ns = *std::min_element(t.begin(), t.end());
      prime_last_ns = *std::max_element(t.begin(), t.end());
      out["prime_spread_ms"] = ms(prime_last_ns - run.prime_first_ns);
    }
  }
}

void open_waiters(load_run& run, connection_pool& cl) {
  const options& o = run.o;
  auto& out = run.out;
  auto& problems = run.problems;
  const int sources = run.sources;
  const std::size_t first = cl.conns_.size();
  std::mt19937_64 rng(42);
  std::vector<std::size_t> per_lane(lane_count(o), 0);
  for (std::size_t w = 0; w < o.waiters; ++w) {
    // Round-robin over the bots; i counts this bot's waiters.
    const auto bot = static_cast<std::uint32_t>(w % bot_count(o));
    const std::size_t i = w / bot_count(o);
    std::uint64_t shard = 0;
    const auto off = static_cast<std::uint64_t>(o.shard_offset);
    if (o.shards == "rr")
      shard = off + i;
    else if (o.shards == "single")
      shard = off + i * o.buckets;
    else
      shard = off + i * o.buckets + rng() % o.buckets;
    const auto lane = static_cast<std::uint32_t>(bot * o.buckets + shard % o.buckets);
    const auto idx = cl.add(unique_shard(o, bot, shard), lane, false, bot);
    cl.conns_[idx].pick_hangup = chosen(per_lane[lane]++, o.hangup_fraction);
    cl.conns_[idx].defer_send = o.connect_only || o.burst_s > 0;
  }
  const std::int64_t connect_start = steady_ns();
  cl.connect_range(first, cl.conns_.size(), sources);
  const std::int64_t all_sent = steady_ns();
  std::size_t connected = 0;
  for (std::size_t i = first; i < cl.conns_.size(); ++i)
    if (cl.conns_[i].sent_ns != 0 ||
        ((o.connect_only || o.burst_s > 0) && cl.conns_[i].st == state::connected))
      ++connected;
  out["connected"] = connected;
  out["connect_only"] = o.connect_only;
  out["connect_s"] = ms(all_sent - connect_start) / 1000.0;
  if (connected != o.waiters)
    problems.push_back("only " + std::to_string(connected) + " of " + std::to_string(o.waiters) +
                       " waiters connected");
  run.first = first;
  run.connect_start = connect_start;
  run.connected = connected;
}

void wait_until_queued(load_run& run, connection_pool& cl, control_client& ctl) {
  const options& o = run.o;
  auto& problems = run.problems;
  const std::int64_t connect_start = run.connect_start;
  const std::size_t connected = run.connected;
  std::optional<double> queued_s;
  std::optional<long long> status_waiting;
  const auto deadline = steady_ns() + static_cast<std::int64_t>(o.queued_timeout_s * 1e9);
  bool have_status = true;
  while (o.connect_only && steady_ns() < deadline) {
    // No requests: wait until the server has accepted them all (its own "connections").
    auto st = ctl.status();
    if (!st || !st->contains("connections") || !(*st)["connections"].is_number()) break;
    if ((*st)["connections"].get<long long>() >= static_cast<long long>(connected)) {
      queued_s = ms(steady_ns() - connect_start) / 1000.0;
      break;
    }
    cl.pump(20);
  }
  while (!o.connect_only && steady_ns() < deadline) {
    cl.pump(0);
    auto w = ctl.waiting();
    if (!w) {
      have_status = false;
      break;
    }
    status_waiting = w;
    if (*w >= static_cast<long long>(cl.pending_waiters())) {
      queued_s = ms(steady_ns() - connect_start) / 1000.0;
      break;
    }
    cl.pump(o.mode == "hold" ? 20 : 2);
  }
  if (o.connect_only) {
  } else if (!have_status)
    problems.push_back("GET /status has no numeric 'waiting'");
  else if (!queued_s)
    problems.push_back("/status waiting=" + std::to_string(status_waiting.value_or(-1)) +
                       " never reached the client's " + std::to_string(cl.pending_waiters()));
  if (queued_s) run.out["queued_s"] = *queued_s;
  run.queued_s = queued_s;
}

void hang_up_chosen(load_run& run, connection_pool& cl, control_client& ctl,
                    nlohmann::json& where) {
  auto& problems = run.problems;
  const std::size_t first = run.first;
  std::size_t hung = 0;
  for (std::size_t i = first; i < cl.conns_.size(); ++i) {
    if (!cl.conns_[i].pick_hangup) continue;
    const auto before = cl.conns_[i].st;
    cl.hang_up(i);
    if (before == state::waiting && cl.conns_[i].st == state::hung_up) ++hung;
  }
  const std::int64_t t0 = steady_ns();
  where["hung_up"] = hung;
  std::optional<double> dropped_ms;
  long long last = -1;
  while (steady_ns() - t0 < static_cast<std::int64_t>(5e9)) {
    cl.pump(0);
    auto w = ctl.waiting();
    if (!w) break;
    last = *w;
    if (*w <= static_cast<long long>(cl.pending_waiters())) {
      dropped_ms = ms(steady_ns() - t0);
      break;
    }
    cl.pump(2);
  }
  where["status_waiting_after"] = last;
  if (dropped_ms) {
    where["all_dropped_ms"] = *dropped_ms;
    if (*dropped_ms > 1000)
      problems.push_back("hang-ups took " + std::to_string(*dropped_ms) + " ms to be dropped");
  } else {
    where["all_dropped_ms"] = nullptr;
    problems.push_back(
        "hang-ups not dropped from /status within 5 s (waiting=" + std::to_string(last) +
        ", client pending=" + std::to_string(cl.pending_waiters()) + ")");
  }
  for (std::size_t i = first; i < cl.conns_.size(); ++i)
    if (cl.conns_[i].st == state::hung_up) run.hung_shards.insert(cl.conns_[i].shard);
}

void measure_hold(load_run& run, connection_pool& cl, control_client& ctl) {
  const options& o = run.o;
  auto& out = run.out;
  auto& problems = run.problems;
  // Settle, then measure while the waiters wait.
  const auto settle_end = steady_ns() + static_cast<std::int64_t>(o.settle_s * 1e9);
  while (steady_ns() < settle_end) cl.pump(100);
  const std::size_t held =
      o.connect_only ? cl.count(state::connected, false) : cl.pending_waiters();
  const proc_sample s1 = sample_proc(o.server_pid, true);
  const auto window_end = steady_ns() + static_cast<std::int64_t>(o.cpu_window_s * 1e9);
  while (steady_ns() < window_end)
    cl.pump(static_cast<int>(std::max<std::int64_t>(1, (window_end - steady_ns()) / 1'000'000)));
  const proc_sample s2 = sample_proc(o.server_pid, false);
  out["held"] = held;
  out["held_after_window"] = cl.pending_waiters();
  out["server_holding"] = proc_json(s1);
  out["server_after_window"] = proc_json(s2);
  if (s1.ok && run.idle.ok) {
    const long hz = sysconf(_SC_CLK_TCK);
    const double window = static_cast<double>(s2.at_ns - s1.at_ns) / 1e9;
    const double cpu_s = static_cast<double>(s2.cpu_ticks - s1.cpu_ticks) / static_cast<double>(hz);
    const double growth_kib = static_cast<double>(s1.rss_kb - run.idle.rss_kb);
    out["rss_growth_kib"] = growth_kib;
    out["kib_per_waiter"] = held ? growth_kib / static_cast<double>(held) : 0.0;
    out["cpu_window_s"] = window;
    out["cpu_s"] = cpu_s;
    out["cpu_percent"] = 100.0 * cpu_s / window;
    out["threads"] = s1.threads;
    if (held && growth_kib / static_cast<double>(held) > 1.0)
      problems.push_back("RSS per waiter above 1 KiB");
  }
  if (o.hangup_fraction > 0 && !o.connect_only) {
    json h;
    hang_up_chosen(run, cl, ctl, h);
    const proc_sample s3 = sample_proc(o.server_pid, true);
    h["server_after"] = proc_json(s3);
    out["hangup"] = h;
  }
}

void wait_for_drain(load_run& run, connection_pool& cl, control_client& ctl) {
  const options& o = run.o;
  auto& out = run.out;
  auto& problems = run.problems;
  const std::int64_t connect_start = run.connect_start;
  json h;
  if (o.hangup_fraction > 0) {
    hang_up_chosen(run, cl, ctl, h);
    out["hangup"] = h;
  }
  const auto deadline = connect_start + static_cast<std::int64_t>(o.timeout_s * 1e9);
  while (cl.pending_waiters() > 0 && steady_ns() < deadline) cl.pump(100);
  if (cl.pending_waiters() > 0)
    problems.push_back(std::to_string(cl.pending_waiters()) + " waiters still pending at timeout");
  const proc_sample s = sample_proc(o.server_pid, false);
  out["server_end"] = proc_json(s);
}

void record_outcomes(load_run& run, const connection_pool& cl) {
  auto& out = run.out;
  auto& problems = run.problems;
  json by;
  for (auto& [code, n] : cl.by_status_) by[std::to_string(code)] = n;
  out["responses"] = by;
  json errs = json::object();
  for (auto& [e, n] : cl.errors_) errs[e] = n;
  out["errors"] = errs;
  out["error_bodies"] = cl.error_bodies_;
  out["closed_without_response"] = cl.closed_without_response_;
  std::size_t granted = 0, granted_prime = 0;
  for (const auto& c : cl.conns_)
    if (c.status == 200) (c.prime ? granted_prime : granted)++;
  out["granted_waiters"] = granted;
  out["granted_prime"] = granted_prime;
  for (auto& [code, n] : cl.by_status_)
    if (code != 200)
      problems.push_back(std::to_string(n) + " responses with status " + std::to_string(code));
}

}  // namespace gq::bench
