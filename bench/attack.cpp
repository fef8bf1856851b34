// bench/attack: the attack test's hostile clients (tests/support/attackers.hpp) against a running
// gateway-queue, for a fixed time, while bench/load drains shards beside it (bench/run.sh attack).
// Reports how long a new client waited for /health meanwhile (connect included), and what the
// attackers achieved. One JSON object on stdout, a summary on stderr.

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/attackers.hpp"

namespace {

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Attacks a gateway-queue on 127.0.0.1 and probes /health meanwhile"};
  gq::testing::attack_options options;
  int duration_s = 20;
  app.add_option("--port", options.port, "server port on 127.0.0.1")->required();
  app.add_option("--duration-s", duration_s, "how long to attack");
  app.add_option("--slowloris", options.slowloris_connections,
                 "slowloris connections held (set it to the server's file limit)");
  CLI11_PARSE(app, argc, argv);

  rlimit limit{};  // the slowloris connections need more than a default soft limit
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  gq::testing::attack attackers(options);
  attackers.start();
  std::this_thread::sleep_for(std::chrono::seconds{duration_s});
  attackers.stop();
  const auto& r = attackers.report();

  const nlohmann::json result{
      {"duration_s", duration_s},
      {"probes", r.probe_ms.size()},
      {"probe_failures_over_1s", r.probe_failures},
      {"probe_p50_ms", percentile(r.probe_ms, 50)},
      {"probe_p99_ms", percentile(r.probe_ms, 99)},
      {"probe_max_ms", percentile(r.probe_ms, 100)},
      {"slowloris_opened", r.slowloris_opened},
      {"slowloris_closed_by_server", r.slowloris_closed_by_server},
      {"garbage_requests", r.garbage_requests},
      {"garbage_answered", r.garbage_answered},
      {"churn_connections", r.churn_connections},
  };
  std::cerr << "attack: " << result.dump() << "\n";
  std::cout << result.dump() << "\n";
  return r.probe_failures == 0 ? 0 : 3;
}
