#include "src/app/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <csignal>
#include <memory>
#include <optional>

#include "actors/http_edge.hpp"
#include "src/app/active_term.hpp"
#include "src/app/bot_definition.hpp"
#include "src/app/bots_file.hpp"
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
// How often a standby tries to take the journal: its share of the failover time.
constexpr std::chrono::milliseconds k_standby_poll{200};

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

// The full integrity check runs once the queue listens (active_term::verify), so that start-up
// does not grow with the journal; until it passes nothing is written and nothing granted.
std::unique_ptr<storage::journal_claim> claim_as_writer(const server_config& config) {
  return storage::claim_journal(
      config.db_path, {storage::durability::full, storage::integrity_check::deferred, true});
}

// A standby's wait: tries to take the journal every k_standby_poll until it holds it (returned)
// or the process stops (null). A database that cannot be reached is tried again the same way.
std::shared_ptr<storage::journal> wait_for_journal(storage::journal_claim& claim,
                                                   stop_signal& stop) {
  std::string last_failure;
  while (!stop.triggered()) {
    try {
      if (auto journal = claim.try_open()) return journal;
      last_failure.clear();
    } catch (const storage::journal_error& e) {
      if (e.what() != last_failure) spdlog::warn("standby: cannot open the journal: {}", e.what());
      last_failure = e.what();
    }
    if (stop.wait_for(k_standby_poll)) break;
  }
  return nullptr;
}

// Logging first, so that every later line is formatted and redacted; then what the operator
// should know about this configuration before the queue starts.
void start_logging(const server_config& config) {
  init_logging(config.log_format_, config.log_level_);
  spdlog::info("{}", version_line());  // first, so every log names the build it came from
  if (config.discord_token) add_log_redaction(*config.discord_token);
  if (config.auth_token) add_log_redaction(*config.auth_token);
  if (auto warning = exposure_warning(config)) spdlog::warn("{}", *warning);
  for (const auto& flag : config.secrets_on_command_line) {
    spdlog::warn(
        "{} was given on the command line, where every user of this machine can read it "
        "(ps, /proc/PID/cmdline); give it in a file instead: {}-file, or the _FILE "
        "variable (docs/CONFIGURATION.md, \"Secrets in files\")",
        flag, flag);
  }
}

// The journal if this process can write it now; null for a standby (a shared journal another
// process holds); nullopt if the process cannot start (logged). A SQLite file is locked (`lock`)
// before it is opened, and maybe migrated, for the life of the process.
std::optional<std::shared_ptr<storage::journal>> open_journal(const server_config& config,
                                                              bool shared_journal,
                                                              storage::journal_claim& claim,
                                                              std::optional<journal_lock>& lock) {
  try {
    if (!shared_journal) lock.emplace(config.db_path);
    auto journal = claim.try_open();
    if (!journal) {
      spdlog::info(
          "standby: journal {}: another gateway-queue is the active writer (it holds "
          "the journal's advisory lock)",
          storage::redacted_location(config.db_path));
    }
    return journal;
  } catch (const storage::journal_error& e) {
    spdlog::error("cannot open the journal, not starting: {}", e.what());
  } catch (const journal_in_use& e) {
    spdlog::error("not starting: {}", e.what());
  }
  return std::nullopt;
}

// What every active term of this process shares, and how one starts: at start-up and each time
// a standby takes the journal.
struct term_starter {
  caf::actor_system& system;
  const server_config& config;
  clock_anchor anchor;
  std::shared_ptr<grant_handoff> handoff;
  stop_signal& stop;
  // Raised, from another thread, when a shared journal's writer loses it; it wakes `stop`.
  std::shared_ptr<std::atomic<bool>> lost;
  std::function<void()> on_lost;  // empty for SQLite, whose journal cannot be lost
  // The bots a term starts with: the configuration's, then as the last reload left them.
  std::vector<bot_definition> bots;

  term_starter(caf::actor_system& actor_system, const server_config& server,
               clock_anchor process_anchor, stop_signal& process_stop, bool shared_journal)
      : system(actor_system),
        config(server),
        anchor(process_anchor),
        handoff(std::make_shared<grant_handoff>()),
        stop(process_stop),
        lost(std::make_shared<std::atomic<bool>>(false)),
        bots(bot_definitions(server)) {
    if (shared_journal) {
      on_lost = [flag = lost, &process_stop] {
        flag->store(true);
        process_stop.wake();
      };
    }
  }

  // Throws storage::journal_error when the journal cannot be read.
  std::unique_ptr<active_term> start(std::shared_ptr<storage::journal> held) const {
    lost->store(false);
    return std::make_unique<active_term>(system, config, anchor, std::move(held), handoff, stop,
                                         on_lost, bots);
  }
};

// The bots as a standby's edge knows them: names and tokens, no gates.
bot_roster_ptr known_bots(const std::vector<bot_definition>& bots) {
  auto roster = std::make_shared<bot_roster>();
  bot_key key = 0;
  for (const auto& bot : bots) roster->directory.add(key++, bot.name, bot.auth_tokens);
  return roster;
}

http_edge_config edge_config_for(const server_config& config, const term_starter& terms,
                                 bool shared_journal, const active_term* term) {
  http_edge_config edge_config;
  edge_config.handoff = terms.handoff;
  edge_config.auth_token = config.auth_token;
  edge_config.max_waiting = config.max_waiting;
  edge_config.max_connections = connection_capacity();
  edge_config.request_timeout = config.request_timeout;
  edge_config.idle_timeout = config.idle_timeout;
  edge_config.anchor = terms.anchor;
  if (shared_journal) edge_config.grant_timing.late_limit = k_recovery_margin;
  if (term) {  // active from the first request on
    edge_config.bots = term->roster();
    edge_config.archive = term->archive();
  } else {
    edge_config.bots = known_bots(terms.bots);
  }
  return edge_config;
}

// Whether the edge listens; logs where and in which role, or why not.
bool start_listening(caf::scoped_actor& self, const caf::actor& edge, const server_config& config,
                     const active_term* term, const std::string& location) {
  bool listening = false;
  self->request(edge, k_edge_answer_timeout, listen_atom::value, config.host, config.port)
      .receive(
          [&](std::uint16_t port) {
            listening = true;
            spdlog::info("listening on {}:{} ({}, journal {}, limits from {})", config.host, port,
                         term ? "active" : "standby",
                         term ? location : storage::redacted_location(config.db_path),
                         config.discord_token ? "discord" : "config");
          },
          [&](caf::error& e) {
            spdlog::error("cannot listen on {}:{}: {}", config.host, config.port,
                          self->system().render(e));
          });
  return listening;
}

// A standby that took the journal: starts a term and hands the edge its actors. Null when the
// journal taken cannot be read (the standby waits for it again).
std::unique_ptr<active_term> activate(caf::scoped_actor& self, const caf::actor& edge,
                                      const term_starter& terms,
                                      std::shared_ptr<storage::journal> held,
                                      std::chrono::steady_clock::time_point waiting_since) {
  std::unique_ptr<active_term> term;
  try {
    term = terms.start(std::move(held));
  } catch (const storage::journal_error& e) {
    spdlog::warn("standby: took the journal but cannot read it: {}", e.what());
    return nullptr;
  }
  self->send(edge, activate_atom::value, term->roster(), term->archive());
  spdlog::info("active: this process holds the journal now (waited {} ms)",
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - waiting_since)
                   .count());
  term->verify();
  return term;
}

// SIGHUP: the bots file read again and applied; a bad file is logged and the running bots stay.
void reload_bots(caf::scoped_actor& self, const caf::actor& edge, term_starter& terms,
                 active_term* term) {
  const auto& config = terms.config;
  if (!config.bots_file) {
    spdlog::info("SIGHUP: no bots file (QUEUE_BOTS_FILE) to re-read; nothing changes");
    return;
  }
  auto read = read_bots_file(*config.bots_file, config.auth_token);
  if (auto* problem = std::get_if<std::string>(&read)) {
    spdlog::error("SIGHUP: the bots file was not applied, the running bots stay: {}", *problem);
    return;
  }
  terms.bots = bot_definitions(config, std::get<std::vector<bot_settings>>(read));
  self->send(edge, roster_atom::value, term ? term->reload(terms.bots) : known_bots(terms.bots));
  spdlog::info("SIGHUP: bots file applied, {} bot(s)", terms.bots.size());
}

// Serves until the process stops: as the active queue while `term` lives, as a standby that
// tries to take the journal while it does not.
void serve_until_stopped(caf::scoped_actor& self, const caf::actor& edge, term_starter& terms,
                         storage::journal_claim& claim, std::unique_ptr<active_term>& term) {
  if (term) term->verify();
  while (!terms.stop.triggered()) {
    if (!term) {
      const auto waiting_since = std::chrono::steady_clock::now();
      auto held = wait_for_journal(claim, terms.stop);
      if (!held) break;
      term = activate(self, edge, terms, std::move(held), waiting_since);
      if (!term) continue;
    }
    if (terms.stop.wait_for(std::chrono::hours{1})) break;
    if (terms.stop.take_reload()) reload_bots(self, edge, terms, term.get());
    if (terms.lost->load()) {
      // The edge first, so that no grant held there leaves once another queue may grant.
      self->send(edge, standby_atom::value);
      term.reset();
      spdlog::warn("standby: this process lost the journal; trying to take it again");
    }
  }
}

// Answers the waiters with 503, then stops the edge and the actors; returns the exit code.
int shut_down(caf::scoped_actor& self, const caf::actor& edge, stop_signal& stop,
              std::unique_ptr<active_term>& term) {
  const int exit_code = stop.wait();
  spdlog::info("stopping ({}): answering waiters with 503", stop.reason());
  self->request(edge, k_edge_answer_timeout, shutdown_atom::value)
      .receive(
          [](bool all_answered) {
            if (!all_answered) spdlog::warn("some waiters were still waiting at exit");
          },
          [](caf::error&) {});
  caf::anon_send_exit(edge, caf::exit_reason::user_shutdown);
  term.reset();
  spdlog::info("stopped");
  return exit_code;
}

}  // namespace

int run_server(const server_config& config) {
  stop_signal stop;  // first: blocks SIGINT/SIGTERM before any other thread exists
  // A peer that closes while we write (a shard, or Discord under cpp-httplib's plain send())
  // must cost an EPIPE, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  start_logging(config);

  // A PostgreSQL journal may be shared: one process holds it (the active queue), the others wait
  // as standbys. A SQLite file is locked for the life of the process instead.
  const bool shared_journal = storage::is_postgres_location(config.db_path);
  std::optional<journal_lock> lock;
  // Kept for the life of the process: a standby waits on the claim's one database session.
  const auto claim = claim_as_writer(config);
  auto journal = open_journal(config, shared_journal, *claim, lock);
  if (!journal) return 1;

  const auto anchor = clock_anchor::now();
  system_config caf_config;
  caf::actor_system system{caf_config};
  term_starter terms(system, config, anchor, stop, shared_journal);
  std::unique_ptr<active_term> term;
  std::string location = config.db_path;
  if (*journal) {
    location = (*journal)->location();
    try {
      term = terms.start(std::move(*journal));
    } catch (const storage::journal_error& e) {
      spdlog::error("cannot read the journal, not starting: {}", e.what());
      return 1;
    }
  }

  auto edge = system.middleman().spawn_broker(
      http_edge, edge_config_for(config, terms, shared_journal, term.get()));
  caf::scoped_actor self{system};
  if (!start_listening(self, edge, config, term.get(), location)) {
    caf::anon_send_exit(edge, caf::exit_reason::user_shutdown);
    return 1;
  }
  serve_until_stopped(self, edge, terms, *claim, term);
  return shut_down(self, edge, stop, term);
}

}  // namespace gq
