#pragma once
// bench/load's command line. What each option does: its help text (options.cpp) and the modes
// described in bench/load.cpp.

#include <cstddef>
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace gq::bench {

struct options {
  std::string mode = "drain";
  std::string url = "127.0.0.1:5000";
  std::string host = "127.0.0.1";
  std::uint16_t port = 5000;
  int server_pid = 0;
  std::size_t waiters = 1000;
  std::uint32_t buckets = 1;       // each bot's max_concurrency
  std::uint32_t bots = 0;          // > 0: requests spread round-robin over bots b0..b<bots-1>
  std::string shards = "rr";       // rr | single | random
  std::int64_t shard_offset = -1;  // -1: buckets when --prime, else 0
  bool prime = false;
  double interval_ms = 5000;
  double hangup_fraction = 0;
  bool hangup_rst = false;
  int sources = 0;  // 0: 4 when more than 10,000 connections, else 1
  std::size_t connect_batch = 256;
  double cpu_window_s = 5;
  double settle_s = 1;
  double timeout_s = 120;
  double queued_timeout_s = 60;
  std::string db;
  std::string auth;
  std::string label;
  double max_after_due_ms = -1;    // drain: a round's last 200 must leave within this of its due
  std::size_t journal_seeded = 0;  // journal rows written before the run (not grants to us)
  std::string grants_csv;          // every connection's times, for a closer look
  bool connect_only = false;  // hold: connect but never send a request (cost of a bare connection)
  std::int64_t due_at_unix_ms = 0;  // drain: every bucket's first grant falls due at this instant
  double max_p99_ms = 1.0;          // drain: flag a p99 lateness above this (negative: never)
  double burst_s = 0;         // drain: > 0: connect first, send every request within this span
  double burst_lead_ms = 50;  // burst: start sending this long before the next round falls due
};

// Declares every option on `app`, writing into `o` when it parses.
void add_options(CLI::App& app, options& o);

// After parsing: host and port from --url, and the default --shard-offset.
void resolve_options(options& o);

// The bots the requests go to (1 without --bots: the server's only bot, unnamed).
inline std::uint32_t bot_count(const options& o) { return o.bots > 0 ? o.bots : 1; }

// A lane is one bucket of one bot (bot x buckets + bucket): the unit that paces grants, so
// lateness and rounds are computed per lane.
inline std::size_t lane_count(const options& o) {
  return static_cast<std::size_t>(bot_count(o)) * o.buckets;
}

}  // namespace gq::bench
