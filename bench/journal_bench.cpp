// bench/journal_bench: grants per second the journal commits, through the storage API the ledger
// uses (gq::storage::journal::record_releases), for batches of 1 and 256 rows and durability full
// (SQLite synchronous=FULL / PostgreSQL synchronous_commit=on, the server) and normal.
//
//   journal_bench [--dir DIR | --db LOCATION] [--seconds S] [--batches 1,256] [--json]
//
// --db takes any QUEUE_DB location (a SQLite file or a postgresql:// URI): every case then writes
// into that one journal, which is kept (rows accumulate; use a scratch database).
//
// Each case writes into a fresh file in DIR (default: a new directory under $TMPDIR, removed
// afterwards) for S seconds (default 3) and reports commits/s, rows/s and the latency of one
// record_releases call (p50, p99, max). Results: docs/BENCHMARKS.md.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "storage/journal.hpp"

namespace {

using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

gq::unix_ms now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The location as the journal names it (without a password).
std::string opened_location(const std::string& db) {
  return gq::storage::open_journal(db, {gq::storage::durability::normal})->location();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  std::string db;
  double seconds = 3;
  std::vector<std::size_t> batches{1, 256};
  CLI::App app{"gateway-queue journal benchmark"};
  app.add_option("--dir", dir, "directory for the journal files (default: a temporary one)");
  app.add_option("--db", db, "one journal location for every case (file or postgresql:// URI)")
      ->excludes("--dir");
  app.add_option("--seconds", seconds, "duration of each case");
  app.add_option("--batches", batches, "rows per record_releases call")->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  bool remove_dir = false;
  if (dir.empty() && db.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "gq-journal-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
    remove_dir = true;
  }

  nlohmann::json results = nlohmann::json::array();
  std::fprintf(stderr, "%-8s %6s %12s %12s %10s %10s %10s\n", "sync", "batch", "commits/s",
               "grants/s", "p50 ms", "p99 ms", "max ms");
  for (const auto mode : {gq::storage::durability::full, gq::storage::durability::normal}) {
    const char* mode_name = mode == gq::storage::durability::full ? "full" : "normal";
    for (const std::size_t batch : batches) {
      const fs::path path = fs::path(dir) / (std::string("journal-") + mode_name + "-" +
                                             std::to_string(batch) + ".db");
      if (db.empty()) {
        std::error_code ec;
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix, ec);
      }
      const auto opened = gq::storage::open_journal(db.empty() ? path.string() : db, {mode});
      gq::storage::journal& journal = *opened;
      const auto max_concurrency = static_cast<std::uint32_t>(std::max<std::size_t>(batch, 1));
      std::vector<gq::release_record> records(batch);
      std::vector<double> latencies;
      std::uint64_t shard = 0;
      const auto start = steady::now();
      const auto end = start + std::chrono::duration<double>(seconds);
      auto t = start;
      while (t < end) {
        const auto at = now_ms();
        for (std::size_t i = 0; i < batch; ++i) {
          records[i].released_at = at;
          records[i].shard = shard;
          records[i].bucket = static_cast<std::uint32_t>(shard % max_concurrency);
          records[i].max_concurrency = max_concurrency;
          records[i].waited_ms = 5000;
          ++shard;
        }
        const auto t0 = steady::now();
        journal.record_releases(records);
        t = steady::now();
        latencies.push_back(std::chrono::duration<double, std::milli>(t - t0).count());
      }
      const double elapsed = std::chrono::duration<double>(t - start).count();
      std::sort(latencies.begin(), latencies.end());
      const double commits = static_cast<double>(latencies.size()) / elapsed;
      const double rows = commits * static_cast<double>(batch);
      std::fprintf(stderr, "%-8s %6zu %12.0f %12.0f %10.3f %10.3f %10.3f\n", mode_name, batch,
                   commits, rows, pct(latencies, 0.5), pct(latencies, 0.99), latencies.back());
      results.push_back({{"durability", mode_name},
                         {"batch", batch},
                         {"seconds", elapsed},
                         {"commits", latencies.size()},
                         {"commits_per_s", std::round(commits)},
                         {"grants_per_s", std::round(rows)},
                         {"commit_ms_p50", pct(latencies, 0.5)},
                         {"commit_ms_p99", pct(latencies, 0.99)},
                         {"commit_ms_max", latencies.back()}});
    }
  }
  nlohmann::json out{{"journal_bench", results}, {"dir", dir}};
  if (!db.empty()) out["db"] = opened_location(db);
  std::cout << out.dump() << std::endl;
  if (remove_dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return 0;
}
