#include "src/app/active_term.hpp"

#include <spdlog/spdlog.h>

#include <caf/all.hpp>
#include <optional>

#include "src/app/discord_client.hpp"
#include "src/pacing/bucket_widening.hpp"
#include "src/pacing/daily_budget.hpp"
#include "src/pacing/recovery.hpp"

namespace gq {

namespace {

// Per socket operation of the Discord client: a stop waits at most this long for a read.
constexpr std::chrono::seconds k_discord_socket_timeout{5};

std::optional<session_limits> configured_limits(const server_config& config) {
  if (config.discord_token) return std::nullopt;
  session_limits limits;
  limits.total = config.daily_limit;
  limits.remaining = config.daily_limit;
  limits.max_concurrency = config.max_concurrency;
  limits.source = limits_source::config;
  return limits;
}

// Each bucket widened again as the Invalid Sessions journaled in the last day left it, so a
// restart or a takeover does not forget what the bucket's shards reported.
std::vector<bucket_widening> recovered_widening(storage::journal& journal,
                                                const clock_anchor& anchor,
                                                std::uint32_t max_concurrency, widening_rule rule) {
  try {
    const auto now = anchor.to_unix(std::chrono::steady_clock::now());
    return widening_from(journal.invalid_sessions_since(now - daily_budget::k_day_ms),
                         max_concurrency, rule);
  } catch (const storage::journal_error& e) {
    spdlog::error(
        "journal: cannot read the reported Invalid Sessions (buckets start unwidened): {}",
        e.what());
    return {};
  }
}

}  // namespace

active_term::active_term(caf::actor_system& system, const server_config& config,
                         clock_anchor anchor, std::shared_ptr<storage::journal> journal,
                         std::shared_ptr<grant_handoff> handoff, stop_signal& stop,
                         std::function<void()> on_lost)
    : journal_(std::move(journal)), stop_(stop) {
  const recovery_state recovered = journal_->recover();
  const auto configured = configured_limits(config);
  std::uint32_t max_concurrency = config.max_concurrency;
  if (!configured) {
    const bool remembered = recovered.limits && recovered.limits->source == limits_source::discord;
    max_concurrency = remembered ? recovered.limits->max_concurrency : 1;
  }

  ledger_config ledger_settings;
  ledger_settings.anchor = anchor;
  ledger_settings.reject_when_exhausted = config.on_exhausted == exhausted_policy::reject;
  ledger_settings.configured = configured;
  ledger_settings.await_verified = true;
  ledger_settings.on_writer_lost = std::move(on_lost);
  ledger_settings.shard_hourly_limit = config.shard_hourly_limit;
  ledger_settings.reserve = config.reserve;
  ledger_ = spawn_ledger(system, journal_, std::move(ledger_settings), actor_thread::own);
  // Grants go from the buckets to the edge through the hand-off as well as their verdicts, so
  // that a flood of arriving requests cannot hold them up (actors/grant_handoff.hpp).
  const widening_rule widening{config.widen_step, config.widen_max};
  gate_ = system.spawn(
      gq::gate, gate_config{ledger_, anchor, config.identify_interval, max_concurrency,
                            resume_times(recovered, max_concurrency, config.identify_interval),
                            std::move(handoff), widening,
                            recovered_widening(*journal_, anchor, max_concurrency, widening)});
  // Retention starts once the journal is verified: pruning writes.
  archive_ = spawn_archive(system,
                           {.journal = journal_,
                            .retention = std::chrono::days{config.retention_days},
                            .prune_every = k_prune_interval,
                            .anchor = anchor,
                            .prune_at_start = false},
                           actor_thread::own);

  if (!config.discord_token) return;
  auto client = std::make_shared<discord_client>(config.discord_api_url, *config.discord_token,
                                                 k_discord_socket_timeout);
  limits_scheduler_config scheduler_config;
  scheduler_config.fetch = [client] { return client->fetch(); };
  scheduler_config.ledger = ledger_;
  scheduler_config.gate = gate_;
  scheduler_config.refresh_interval = config.refresh_interval;
  scheduler_config.anchor = anchor;
  scheduler_config.token_rejected_at_start = [&stop](const std::string& reason) {
    stop.trigger(1, reason);
  };
  scheduler_ = spawn_limits_scheduler(system, std::move(scheduler_config), actor_thread::own);
  caf::anon_send(ledger_, watch_atom::value, refresh_target_actor{scheduler_});
}

active_term::~active_term() {
  for (const auto& handle :
       {caf::actor_cast<caf::actor>(gate_), caf::actor_cast<caf::actor>(ledger_),
        caf::actor_cast<caf::actor>(archive_), caf::actor_cast<caf::actor>(scheduler_)}) {
    if (handle) caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
  }
}

// The integrity check open_journal deferred. The queue answers /health, /status and /history
// meanwhile; the ledger holds every permit until `verified`, so a damaged journal never grants:
// the process stops with exit code 1 instead.
void active_term::verify() {
  const auto started = std::chrono::steady_clock::now();
  try {
    journal_->verify();
  } catch (const storage::journal_error& e) {
    spdlog::error("the journal failed its integrity check, granting nothing: {}", e.what());
    stop_.trigger(1, "the journal failed its integrity check");
    return;
  }
  spdlog::debug("journal: integrity check passed in {} ms",
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count());
  caf::anon_send(ledger_, verified_atom::value);
  caf::anon_send(archive_, prune_atom::value);
}

}  // namespace gq
