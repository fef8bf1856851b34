#include "load/report.hpp"

#include <cstddef>
#include <fstream>

namespace gq::bench {

using json = nlohmann::json;

void write_grants_csv(const std::string& path, const connection_pool& cl) {
  std::ofstream csv(path);
  csv << "shard,bucket,prime,status,state,sent_ns,rx_ns,rx_kernel_ns\n";
  for (const auto& c : cl.conns_)
    csv << c.shard << ',' << c.bucket << ',' << int(c.prime) << ',' << c.status << ',' << int(c.st)
        << ',' << c.sent_ns << ',' << c.rx_ns << ',' << c.rx_kernel_ns << '\n';
}

void print_summary(const load_run& run, std::ostream& to) {
  const options& o = run.o;
  const auto& out = run.out;
  const auto& problems = run.problems;
  auto& e = to;
  e << "== load " << o.mode << (o.label.empty() ? "" : " [" + o.label + "]") << ": " << o.waiters
    << " waiters, " << o.buckets << " buckets"
    << (o.bots > 0 ? " x " + std::to_string(o.bots) + " bots" : std::string()) << ", interval "
    << o.interval_ms << " ms, sources " << run.sources << "\n";
  e << "   connected " << run.connected << " in " << out["connect_s"].get<double>() << " s";
  if (run.queued_s) e << ", all queued at " << *run.queued_s << " s";
  e << "\n";
  if (o.prime && out.contains("prime_spread_ms"))
    e << "   prime round spread " << out["prime_spread_ms"].get<double>() << " ms\n";
  if (o.mode == "hold" && out.contains("kib_per_waiter")) {
    e << "   server idle RSS " << run.idle.rss_kb << " KiB; holding "
      << out["held"].get<std::size_t>() << ": RSS " << out["server_holding"]["rss_kb"].get<long>()
      << " KiB -> " << out["kib_per_waiter"].get<double>() << " KiB/waiter; threads "
      << out["threads"].get<long>() << "; CPU " << out["cpu_s"].get<double>() << " s over "
      << out["cpu_window_s"].get<double>() << " s (" << out["cpu_percent"].get<double>() << " %)\n";
  }
  if (out.contains("hangup")) {
    const auto& h = out["hangup"];
    e << "   hung up " << h["hung_up"].get<std::size_t>() << "; /status dropped them in "
      << (h["all_dropped_ms"].is_null() ? std::string("NEVER")
                                        : std::to_string(h["all_dropped_ms"].get<double>()) + " ms")
      << "\n";
  }
  if (o.mode == "drain") {
    e << "   granted " << out["granted_waiters"].get<std::size_t>() << " waiters";
    if (out.contains("drain_ms"))
      e << "; drain " << out["drain_ms"].get<double>() << " ms vs ideal "
        << out["ideal_drain_ms"].get<double>() << " ms";
    if (out.contains("drain_error_percent"))
      e << " (" << out["drain_error_percent"].get<double>() << " %)";
    e << "\n";
    e << "   lateness (kernel rx)  "
      << (out["lateness_kernel_ms"].is_null() ? "(none)" : out["lateness_kernel_ms"].dump())
      << "\n";
    e << "   lateness (client rx)  "
      << (out["lateness_client_ms"].is_null() ? "(none)" : out["lateness_client_ms"].dump())
      << "\n";
    if (out.contains("round_spread_ms"))
      e << "   round spread (k-th grant of every bucket) " << out["round_spread_ms"].dump()
        << "\n   round due spread " << out["round_due_spread_ms"].dump()
        << "\n   round: last out after last due " << out["round_out_after_last_due_ms"].dump()
        << "\n";
    if (out.contains("common_due_round"))
      e << "   round due together at " << o.due_at_unix_ms << ": first 200 "
        << out["common_due_round"]["first_after_due_ms"].get<double>() << " ms, last "
        << out["common_due_round"]["last_after_due_ms"].get<double>() << " ms after it\n";
    if (out.contains("burst"))
      e << "   burst: requests written in " << out["burst_sent_ms"].get<double>()
        << " ms; lateness (kernel rx) of grants due meanwhile  "
        << out["burst"]["lateness_due_in_window_ms"].dump() << "\n";
    e << "   excluded (queued after due): " << out["starved_excluded"].get<std::size_t>() << "\n";
  }
  if (out.contains("journal")) {
    const auto& j = out["journal"];
    e << "   journal rows " << j.value("rows", json()).dump() << " = grants "
      << j.value("client_grants", json()).dump() << ", rows of hung-up waiters "
      << j.value("rows_of_hung_up_waiters", json()).dump() << "\n";
    if (j.contains("due_to_send_ms"))
      e << "   journal due -> kernel send (per grant)  " << j["due_to_send_ms"].dump()
        << "\n   journal due spacing - interval          " << j["due_spacing_excess_ms"].dump()
        << "\n";
    if (j.contains("error")) e << "   journal error " << j["error"].dump() << "\n";
  }
  e << "   responses " << out["responses"].dump() << " errors " << out["errors"].dump() << "\n";
  if (problems.empty()) e << "   OK\n";
  for (const auto& p : problems) e << "   PROBLEM: " << p << "\n";
}

}  // namespace gq::bench
