// bench/idle_bots: what an idle bot costs in memory: its gate and whatever the gate keeps for
// its buckets while nobody waits.
//
//   idle_bots [--gates N] [--max-concurrency M]
//
// Spawns N gates of M buckets each (a null ledger: nothing is granted, nothing is asked), lets
// them settle, and prints the process's resident set before and after, per gate. One JSON line
// on stdout. Scale goal: 1,000 bots x 16 buckets, at most 16 KiB per idle bot.

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/gate.hpp"

namespace {

// The resident set in KiB (VmRSS of /proc/self/status), 0 if unknown.
long resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"What an idle bot (its gate and buckets) costs in memory"};
  int gates = 1000;
  std::uint32_t max_concurrency = 16;
  app.add_option("--gates", gates, "gates to spawn (one per bot)")->check(CLI::Range(1, 1000000));
  app.add_option("--max-concurrency", max_concurrency, "buckets per gate")
      ->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);

  caf::actor_system_config config;
  caf::actor_system system{config};
  const auto anchor = gq::clock_anchor::now();
  // Warm up the allocator and the scheduler with one gate, so that the measurement is per gate.
  std::vector<gq::gate_actor> handles;
  auto spawn_one = [&] {
    gq::gate_config cfg;
    cfg.anchor = anchor;
    cfg.interval = std::chrono::seconds{5};
    cfg.max_concurrency = max_concurrency;
    handles.push_back(system.spawn(gq::gate, std::move(cfg)));
  };
  spawn_one();
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  const long before = resident_kib();
  for (int i = 0; i < gates; ++i) spawn_one();
  std::this_thread::sleep_for(std::chrono::seconds{1});  // every actor initialized
  const long after = resident_kib();
  std::printf(
      "{\"gates\":%d,\"max_concurrency\":%u,\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,"
      "\"kib_per_gate\":%.2f}\n",
      gates, max_concurrency, before, after, static_cast<double>(after - before) / gates);
  for (auto& h : handles) caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  handles.clear();
  return 0;
}
