// bench/held_hangup: what hang-ups in the held window cost the waiter behind them.
//
//   held_hangup --port N --buckets B --interval-ms I [--leavers K] [--rounds R]
//               [--hangup-before-due-ms H] [--timeout-s T]
//
// Against a running server with QUEUE_MAX_CONCURRENCY=B and QUEUE_IDENTIFY_INTERVAL_MS=I. Each
// bucket b first has one grant (shard b). Then, for R rounds, as soon as the bucket's last grant
// arrived at t: K "leavers" queue (shards of bucket b, one connection each), 5 ms later one
// "stayer"; at t + I - H every leaver of that bucket closes its connection. The server has
// journaled the head's grant by then (it asks for its permit k_permit_lead = 100 ms ahead), so
// the hang-ups fall in the held window when H < 100. The stayer's grant is due at t + I; its
// lateness is its arrival minus that instant (client clock; loopback). A hang-up that costs a
// slot shows as a lateness of about one interval. The stayer's grant is the next round's t.
// One JSON line on stdout (lateness p50/p99/max, slots lost), a summary on stderr. Used by
// `bench/run.sh hangup-held`; results: docs/BENCHMARKS.md.

#include <poll.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "loopback_request.hpp"

namespace {

using steady = std::chrono::steady_clock;
using ms = std::chrono::duration<double, std::milli>;

constexpr auto k_stayer_delay = std::chrono::milliseconds{5};

// A loopback connection with one queue request written; -1 on failure.
int queue_request(std::uint16_t port, std::uint64_t shard) {
  return gq::bench::send_request(port, "/?shard=" + std::to_string(shard));
}

// The status code of the first response bytes on `fd`, 0 when the peer closed first.
int read_status(int fd) {
  char buffer[512];
  const ssize_t n = read(fd, buffer, sizeof buffer);
  if (n < 12 || std::string_view{buffer, 5} != "HTTP/") return 0;
  return std::atoi(buffer + 9);
}

struct bucket_run {
  std::uint64_t index = 0;
  int rounds_done = 0;
  steady::time_point last_grant{};  // t: the bucket's last grant, as received
  std::vector<int> leavers;
  int stayer = -1;  // the connection whose grant is awaited (the first grant's too)
  std::optional<steady::time_point> stayer_at;  // when to queue the stayer
  std::optional<steady::time_point> leave_at;   // when the leavers hang up
  std::uint64_t next_shard = 0;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(i, values.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  int port_number = 0;
  std::uint64_t buckets = 64;
  int interval_ms = 200;
  int leavers = 3;
  int rounds = 10;
  int hangup_before_due_ms = 50;
  double timeout_s = 60;
  CLI::App app{"gateway-queue: hang-ups in the held window"};
  app.add_option("--port", port_number, "the server's loopback port")->required();
  app.add_option("--buckets", buckets, "QUEUE_MAX_CONCURRENCY of the server")->required();
  app.add_option("--interval-ms", interval_ms, "QUEUE_IDENTIFY_INTERVAL_MS of the server")
      ->required();
  app.add_option("--leavers", leavers, "waiters ahead of the stayer that hang up, per round");
  app.add_option("--rounds", rounds, "rounds per bucket");
  app.add_option("--hangup-before-due-ms", hangup_before_due_ms,
                 "the leavers hang up this long before the stayer's grant is due");
  app.add_option("--timeout-s", timeout_s, "give up after this long");
  CLI11_PARSE(app, argc, argv);
  const auto port = static_cast<std::uint16_t>(port_number);
  const auto interval = std::chrono::milliseconds{interval_ms};

  std::vector<bucket_run> runs(buckets);
  for (std::uint64_t b = 0; b < buckets; ++b) {
    runs[b].index = b;
    runs[b].next_shard = b + buckets;
    runs[b].stayer = queue_request(port, b);
    if (runs[b].stayer < 0) {
      std::fprintf(stderr, "held_hangup: cannot connect to 127.0.0.1:%u\n", port);
      return 1;
    }
  }

  std::vector<double> lateness_ms;
  int failures = 0;
  const auto deadline = steady::now() + std::chrono::duration<double>(timeout_s);
  std::size_t finished = 0;
  while (finished < runs.size() && steady::now() < deadline) {
    // Timed actions: queue a stayer, hang up leavers.
    auto now = steady::now();
    std::optional<steady::time_point> next_action;
    for (auto& run : runs) {
      if (run.stayer_at && now >= *run.stayer_at) {
        run.stayer_at.reset();
        run.stayer = queue_request(port, run.next_shard);
        run.next_shard += buckets;
      }
      if (run.leave_at && now >= *run.leave_at) {
        run.leave_at.reset();
        for (const int fd : run.leavers) close(fd);
        run.leavers.clear();
      }
      for (const auto& at : {run.stayer_at, run.leave_at})
        if (at && (!next_action || *at < *next_action)) next_action = at;
    }
    // Grants.
    std::vector<pollfd> fds;
    std::vector<bucket_run*> owners;
    for (auto& run : runs) {
      if (run.stayer < 0) continue;
      fds.push_back({run.stayer, POLLIN, 0});
      owners.push_back(&run);
    }
    int wait_ms = 50;
    if (next_action)
      wait_ms = std::max(0, static_cast<int>(ms(*next_action - steady::now()).count()));
    if (poll(fds.data(), fds.size(), wait_ms) <= 0) continue;
    now = steady::now();
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& run = *owners[i];
      const int status = read_status(run.stayer);
      close(run.stayer);
      run.stayer = -1;
      if (status != 200) {
        std::fprintf(stderr, "held_hangup: bucket %llu: status %d, not 200\n",
                     static_cast<unsigned long long>(run.index), status);
        ++failures;
        ++finished;
        continue;
      }
      if (run.last_grant != steady::time_point{}) {
        lateness_ms.push_back(ms(now - (run.last_grant + interval)).count());
        ++run.rounds_done;
      }
      run.last_grant = now;
      if (run.rounds_done == rounds) {
        ++finished;
        continue;
      }
      for (int k = 0; k < leavers; ++k) {
        run.leavers.push_back(queue_request(port, run.next_shard));
        run.next_shard += buckets;
      }
      run.stayer_at = now + k_stayer_delay;
      run.leave_at = now + interval - std::chrono::milliseconds{hangup_before_due_ms};
    }
  }
  for (auto& run : runs) {
    for (const int fd : run.leavers) close(fd);
    if (run.stayer >= 0) close(run.stayer);
  }
  if (finished < runs.size()) {
    std::fprintf(stderr, "held_hangup: %zu of %zu buckets did not finish in time\n",
                 runs.size() - finished, runs.size());
    ++failures;
  }

  // A slot lost shows as about one interval late; half an interval separates it from noise.
  const auto lost = std::count_if(lateness_ms.begin(), lateness_ms.end(),
                                  [&](double l) { return l >= interval_ms / 2.0; });
  nlohmann::json result{{"held_hangup", true},
                        {"samples", lateness_ms.size()},
                        {"lateness_p50_ms", percentile(lateness_ms, 0.5)},
                        {"lateness_p99_ms", percentile(lateness_ms, 0.99)},
                        {"lateness_max_ms", percentile(lateness_ms, 1.0)},
                        {"slots_lost", lost},
                        {"failures", failures}};
  std::fprintf(stderr,
               "   %zu stayers behind %d hang-ups each, %d ms before due: lateness p50 %.2f, "
               "p99 %.2f, max %.2f ms; %ld slots lost (>= half an interval late)\n",
               lateness_ms.size(), leavers, hangup_before_due_ms, percentile(lateness_ms, 0.5),
               percentile(lateness_ms, 0.99), percentile(lateness_ms, 1.0),
               static_cast<long>(lost));
  std::printf("%s\n", result.dump().c_str());
  return failures == 0 ? 0 : 1;
}
