#include "load/options.hpp"

#include <CLI/CLI.hpp>

namespace gq::bench {

void add_options(CLI::App& app, options& o) {
  app.add_option("--mode", o.mode, "hold | drain")->check(CLI::IsMember({"hold", "drain"}));
  app.add_option("--url", o.url, "server host:port (numeric IPv4)");
  app.add_option("--server-pid", o.server_pid, "server PID, for /proc measurements");
  app.add_option("-n,--waiters", o.waiters, "waiting connections to open");
  app.add_option("--buckets", o.buckets, "the server's max_concurrency")
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--bots", o.bots,
                 "spread the requests over N bots named b0..b<N-1> (a bots file's names): "
                 "waiter i asks /bots/b<i % N>/; --buckets is then each bot's max_concurrency, "
                 "the prime round asks once per bucket of every bot, and shard numbers stay "
                 "unique across bots (bucket + buckets x (bot + N x round)) so that the "
                 "journal's rows are matched to the requests by shard")
      ->check(CLI::Range(0u, 100000u));
  app.add_option("--shards", o.shards, "rr (shard i), single (all bucket 0), random")
      ->check(CLI::IsMember({"rr", "single", "random"}));
  app.add_option("--shard-offset", o.shard_offset,
                 "first waiter shard (default: --buckets with --prime, else 0); a multiple of "
                 "--buckets keeps bucket = i % buckets");
  app.add_flag("--prime", o.prime,
               "first send one request per bucket (shards 0..buckets-1) and wait for their "
               "grants, so the waiters queue behind a round that was just granted");
  app.add_option("--interval-ms", o.interval_ms, "the server's QUEUE_IDENTIFY_INTERVAL_MS");
  app.add_option("--hangup-fraction", o.hangup_fraction,
                 "fraction of waiters that hang up once all are connected")
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--hangup-rst", o.hangup_rst, "hang up with RST (SO_LINGER 0) instead of FIN");
  app.add_option("--sources", o.sources, "source addresses 127.0.0.1.. (0: auto)")
      ->check(CLI::Range(0, 4));
  app.add_option("--connect-batch", o.connect_batch, "connects outstanding at once");
  app.add_option("--cpu-window-s", o.cpu_window_s, "hold: CPU measurement window");
  app.add_option("--settle-s", o.settle_s, "hold: pause after all are queued, before measuring");
  app.add_option("--timeout-s", o.timeout_s, "drain: give up after this long");
  app.add_option("--queued-timeout-s", o.queued_timeout_s,
                 "how long to wait for /status to count every waiter");
  app.add_option("--db", o.db, "the server's QUEUE_DB, for journal checks and lateness");
  app.add_option("--auth", o.auth, "QUEUE_AUTH_TOKEN, if the server has one");
  app.add_option("--label", o.label, "scenario name for the JSON line");
  app.add_option("--max-after-due-ms", o.max_after_due_ms,
                 "drain: flag a round (the k-th grant of every bucket) whose last response left "
                 "more than this after the latest due instant in it");
  app.add_option("--journal-seeded", o.journal_seeded,
                 "the first N journal rows were written before this run (a seeded journal): "
                 "not grants to this client, left out of the journal checks");
  app.add_option("--grants-csv", o.grants_csv,
                 "write shard,bucket,prime,status,state,sent_ns,rx_ns,rx_kernel_ns per connection "
                 "(with --bots, bucket is the lane: bot x buckets + the bot's bucket)");
  app.add_option("--due-at-unix-ms", o.due_at_unix_ms,
                 "drain: every bucket's first grant falls due at this unix time (a restarted "
                 "server whose journal puts all buckets' last grants at one instant); the first "
                 "round is measured against it");
  app.add_option("--max-p99-ms", o.max_p99_ms,
                 "drain: flag a p99 lateness (kernel timestamps) above this; negative: never");
  app.add_option("--burst-s", o.burst_s,
                 "drain: connect every waiter first without a request, then (after the prime "
                 "round, which it needs) write all requests spread evenly over this many seconds, "
                 "starting --burst-lead-ms before the next round falls due; lateness of the "
                 "grants due within the burst is reported apart")
      ->check(CLI::Range(0.0, 60.0));
  app.add_option("--burst-lead-ms", o.burst_lead_ms,
                 "burst: how long before the prime round's next due instant the first request "
                 "is written");
  app.add_flag("--connect-only", o.connect_only,
               "hold: open the connections but send no request, to tell the cost of a bare "
               "connection from that of a waiter");
}

void resolve_options(options& o) {
  std::string u = o.url;
  if (u.rfind("http://", 0) == 0) u = u.substr(7);
  if (auto slash = u.find('/'); slash != std::string::npos) u = u.substr(0, slash);
  const auto colon = u.rfind(':');
  if (colon == std::string::npos) {
    o.host = u;
  } else {
    o.host = u.substr(0, colon);
    o.port = static_cast<std::uint16_t>(std::stoi(u.substr(colon + 1)));
  }
  if (o.shard_offset < 0) o.shard_offset = o.prime ? o.buckets : 0;
}

}  // namespace gq::bench
