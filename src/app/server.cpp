#include "src/app/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <csignal>
#include <memory>
#include <optional>

#include "actors/archive.hpp"
#include "actors/gate.hpp"
#include "actors/http_edge.hpp"
#include "actors/ledger.hpp"
#include "actors/limits_scheduler.hpp"
#include "src/app/discord_client.hpp"
#include "src/app/exposure.hpp"
#include "src/app/journal_lock.hpp"
#include "src/app/logging.hpp"
#include "src/app/stop_signal.hpp"
#include "src/pacing/recovery.hpp"
#include "storage/journal.hpp"

namespace gq {

namespace {

// File descriptors kept back from client connections: the journal (3 per SQLite connection with
// WAL), the epoll and pipe descriptors, the HTTPS client, logging.
constexpr rlim_t k_reserved_fds = 64;

// How long start-up waits for the edge to listen, and a stop for it to answer its waiters.
constexpr std::chrono::seconds k_edge_answer_timeout{5};
// Per socket operation of the Discord client: a stop waits at most this long for a read.
constexpr std::chrono::seconds k_discord_socket_timeout{5};

// Raises the soft file limit to the hard one and returns how many connections fit under it.
std::size_t connection_capacity() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1000;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur > 2 * k_reserved_fds ? limit.rlim_cur - k_reserved_fds : k_reserved_fds;
}

// CAF 0.17 reads caf-application.ini from the working directory only when parse() is called;
// we never call it, so the queue's behaviour depends on its documented settings alone.
struct system_config : caf::actor_system_config {
  system_config() {
    load<caf::io::middleman>();
    set("scheduler.max-threads", 2);  // the machine class: a fixed, small thread count
    set("scheduler.policy", caf::atom("sharing"));  // idle CPU ~0 with the same timing
  }
};

std::optional<session_limits> configured_limits(const server_config& config) {
  if (config.discord_token) return std::nullopt;
  session_limits limits;
  limits.total = config.daily_limit;
  limits.remaining = config.daily_limit;
  limits.max_concurrency = config.max_concurrency;
  limits.source = limits_source::config;
  return limits;
}

// The integrity check open_journal deferred, on this thread while the actors serve. The queue
// answers /health, /status and /history meanwhile; the ledger holds every permit until
// `verified`, so a damaged journal never grants: the process stops with exit code 1 instead.
void verify_journal(storage::journal& journal, const ledger_actor& ledger,
                    const archive_actor& archive, stop_signal& stop) {
  const auto started = std::chrono::steady_clock::now();
  try {
    journal.verify();
  } catch (const storage::journal_error& e) {
    spdlog::error("the journal failed its integrity check, granting nothing: {}", e.what());
    stop.trigger(1, "the journal failed its integrity check");
    return;
  }
  spdlog::debug("journal: integrity check passed in {} ms",
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count());
  caf::anon_send(ledger, verified_atom::value);
  caf::anon_send(archive, prune_atom::value);
}

}  // namespace

int run_server(const server_config& config) {
  stop_signal stop;  // first: blocks SIGINT/SIGTERM before any other thread exists
  // A peer that closes while we write (a shard, or Discord under cpp-httplib's plain send())
  // must cost an EPIPE, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  init_logging(config.log_format_, config.log_level_);
  if (config.discord_token) add_log_redaction(*config.discord_token);
  if (config.auth_token) add_log_redaction(*config.auth_token);
  if (auto warning = exposure_warning(config)) spdlog::warn("{}", *warning);

  std::shared_ptr<storage::journal> journal;
  std::optional<journal_lock> lock;
  recovery_state recovered;
  try {
    // Before the journal is opened (and maybe migrated). A PostgreSQL journal has no file to
    // lock: open_journal takes an advisory lock on its writer connection instead (exclusive).
    if (!storage::is_postgres_location(config.db_path)) lock.emplace(config.db_path);
    // The full integrity check runs once the queue listens (below), so that start-up does not
    // grow with the journal; until it passes nothing is written and nothing granted.
    journal = storage::open_journal(
        config.db_path, {storage::durability::full, storage::integrity_check::deferred, true});
    recovered = journal->recover();
  } catch (const storage::journal_error& e) {
    spdlog::error("cannot open the journal, not starting: {}", e.what());
    return 1;
  } catch (const journal_in_use& e) {
    spdlog::error("not starting: {}", e.what());
    return 1;
  }

  const auto anchor = clock_anchor::now();
  const auto configured = configured_limits(config);
  std::uint32_t max_concurrency = config.max_concurrency;
  if (!configured) {
    const bool remembered = recovered.limits && recovered.limits->source == limits_source::discord;
    max_concurrency = remembered ? recovered.limits->max_concurrency : 1;
  }

  system_config caf_config;
  caf::actor_system system{caf_config};

  auto ledger = spawn_ledger(
      system, journal, {anchor, config.on_exhausted == exhausted_policy::reject, configured, true},
      true);
  // Grants go from the buckets to the edge through this as well as their verdicts, so that a
  // flood of arriving requests cannot hold them up (actors/grant_handoff.hpp).
  auto handoff = std::make_shared<grant_handoff>();
  auto gate_handle = system.spawn(
      gate,
      gate_config{ledger, anchor, config.identify_interval, max_concurrency,
                  resume_times(recovered, max_concurrency, config.identify_interval), handoff});
  // Retention starts once the journal is verified: pruning writes.
  auto archive_handle = spawn_archive(
      system, {journal, std::chrono::days{config.retention_days}, k_prune_interval, anchor, false},
      true);

  http_edge_config edge_config;
  edge_config.gate = gate_handle;
  edge_config.archive = archive_handle;
  edge_config.handoff = handoff;
  edge_config.auth_token = config.auth_token;
  edge_config.max_waiting = config.max_waiting;
  edge_config.max_connections = connection_capacity();
  edge_config.request_timeout = config.request_timeout;
  edge_config.idle_timeout = config.idle_timeout;
  edge_config.anchor = anchor;
  auto edge = system.middleman().spawn_broker(http_edge, edge_config);

  auto stop_all = [&] {
    for (const auto& handle :
         {caf::actor_cast<caf::actor>(edge), caf::actor_cast<caf::actor>(gate_handle),
          caf::actor_cast<caf::actor>(ledger), caf::actor_cast<caf::actor>(archive_handle)})
      caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
  };

  caf::scoped_actor self{system};
  int exit_code = 0;
  self->request(edge, k_edge_answer_timeout, listen_atom::value, config.host, config.port)
      .receive(
          [&](std::uint16_t port) {
            spdlog::info("gateway-queue {} listening on {}:{} (journal {}, limits from {})",
                         GQ_VERSION, config.host, port, journal->location(),
                         configured ? "config" : "discord");
          },
          [&](caf::error& e) {
            spdlog::error("cannot listen on {}:{}: {}", config.host, config.port, system.render(e));
            exit_code = 1;
          });
  if (exit_code != 0) {
    stop_all();
    return exit_code;
  }

  limits_scheduler_actor scheduler;
  if (config.discord_token) {
    auto client = std::make_shared<discord_client>(config.discord_api_url, *config.discord_token,
                                                   k_discord_socket_timeout);
    limits_scheduler_config scheduler_config;
    scheduler_config.fetch = [client] { return client->fetch(); };
    scheduler_config.ledger = ledger;
    scheduler_config.gate = gate_handle;
    scheduler_config.refresh_interval = config.refresh_interval;
    scheduler_config.anchor = anchor;
    scheduler_config.token_rejected_at_start = [&stop](const std::string& reason) {
      stop.trigger(1, reason);
    };
    scheduler = spawn_limits_scheduler(system, std::move(scheduler_config), true);
    caf::anon_send(ledger, watch_atom::value, caf::actor_cast<caf::actor>(scheduler));
  }

  verify_journal(*journal, ledger, archive_handle, stop);
  exit_code = stop.wait();
  spdlog::info("stopping ({}): answering waiters with 503", stop.reason());
  self->request(edge, k_edge_answer_timeout, shutdown_atom::value)
      .receive(
          [](bool all_answered) {
            if (!all_answered) spdlog::warn("some waiters were still waiting at exit");
          },
          [](caf::error&) {});
  stop_all();
  if (scheduler) caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
  spdlog::info("stopped");
  return exit_code;
}

}  // namespace gq
