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

std::optional<session_limits> configured_limits(const bot_definition& bot) {
  if (bot.discord_token) return std::nullopt;
  session_limits limits;
  limits.total = bot.daily_limit;
  limits.remaining = bot.daily_limit;
  limits.max_concurrency = bot.max_concurrency;
  limits.source = limits_source::config;
  return limits;
}

ledger_bot_config ledger_settings_of(const bot_definition& bot) {
  ledger_bot_config settings;
  settings.name = bot.name;
  settings.reject_when_exhausted = bot.on_exhausted == exhausted_policy::reject;
  settings.configured = configured_limits(bot);
  settings.shard_hourly_limit = bot.shard_hourly_limit;
  settings.reserve = bot.reserve;
  return settings;
}

// How a bot's gate resumes: its buckets, each no sooner than the journal allows, each widened
// again as the Invalid Sessions of the last day left it (so a restart or a takeover does not
// forget what the bucket's shards reported).
gate_config gate_settings_of(const bot_definition& bot, const bot_recovery& recovered,
                             const server_config& config) {
  const auto& journaled = recovered.journaled;
  std::uint32_t max_concurrency = bot.max_concurrency;
  if (bot.discord_token) {
    const bool remembered = journaled.limits && journaled.limits->source == limits_source::discord;
    max_concurrency = remembered ? journaled.limits->max_concurrency : 1;
  }
  const widening_rule widening{config.widen_step, config.widen_max};
  gate_config settings;
  settings.max_concurrency = max_concurrency;
  settings.interval = bot.identify_interval;
  settings.resume_at = resume_times(journaled, max_concurrency, bot.identify_interval);
  settings.widening = widening;
  settings.widened = widening_from(recovered.invalid_sessions, max_concurrency, widening);
  return settings;
}

}  // namespace

active_term::active_term(caf::actor_system& system, const server_config& config,
                         clock_anchor anchor, std::shared_ptr<storage::journal> journal,
                         std::shared_ptr<grant_handoff> handoff, stop_signal& stop,
                         std::function<void()> on_lost, const std::vector<bot_definition>& bots)
    : system_(system),
      config_(config),
      anchor_(anchor),
      journal_(std::move(journal)),
      handoff_(std::move(handoff)),
      stop_(stop),
      single_bot_(!config.bots_file),
      self_(system) {
  // Read once before any actor exists: a journal that cannot be read fails the start here.
  journal_->recover();
  ledger_config ledger_settings;
  ledger_settings.anchor = anchor_;
  ledger_settings.await_verified = true;
  ledger_settings.on_writer_lost = std::move(on_lost);
  ledger_ = spawn_ledger(system_, journal_, std::move(ledger_settings), actor_thread::own);
  // Retention starts once the journal is verified: pruning writes.
  archive_ = spawn_archive(system_,
                           {.journal = journal_,
                            .retention = std::chrono::days{config.retention_days},
                            .prune_every = k_prune_interval,
                            .anchor = anchor_,
                            .prune_at_start = false},
                           actor_thread::own);
  try {
    for (const auto& bot : bots) start_bot(bot);
  } catch (const storage::journal_error&) {
    stop_actors();  // the term does not start: nothing of it may go on
    throw;
  }
  rebuild_roster();
}

void active_term::start_bot(const bot_definition& bot) {
  running_bot running;
  running.key = next_key_++;
  running.definition = bot;
  std::optional<bot_recovery> recovered;
  self_->request(ledger_, caf::infinite, join_atom::value, running.key, ledger_settings_of(bot))
      .receive([&](bot_recovery& answer) { recovered = std::move(answer); }, [&](caf::error&) {});
  if (!recovered)
    throw storage::journal_error("bot " + bot.name + ": its last grants cannot be read");
  auto settings = gate_settings_of(bot, *recovered, config_);
  const auto buckets = settings.max_concurrency;
  settings.ledger = ledger_;
  settings.bot = running.key;
  settings.anchor = anchor_;
  // Grants go from the buckets to the edge through the hand-off as well as their verdicts, so
  // that a flood of arriving requests cannot hold them up (actors/grant_handoff.hpp).
  settings.handoff = handoff_;
  running.gate = system_.spawn(gq::gate, std::move(settings));
  start_scheduler(running);
  spdlog::info("bot {}: serving ({} bucket(s), limits from {})", bot.name, buckets,
               bot.discord_token ? "discord" : "config");
  bots_.emplace(bot.name, std::move(running));
}

void active_term::start_scheduler(const running_bot& running) {
  const auto& bot = running.definition;
  if (!bot.discord_token) return;
  if (!scheduler_) {
    limits_scheduler_config scheduler_config;
    scheduler_config.ledger = ledger_;
    scheduler_config.refresh_interval = config_.refresh_interval;
    scheduler_config.anchor = anchor_;
    scheduler_ = spawn_limits_scheduler(system_, std::move(scheduler_config), actor_thread::own);
    caf::anon_send(ledger_, watch_atom::value, refresh_target_actor{scheduler_});
  }
  auto client = std::make_shared<discord_client>(config_.discord_api_url, *bot.discord_token,
                                                 k_discord_socket_timeout);
  limits_bot read;
  read.name = bot.name;
  read.fetch = [client] { return client->fetch(); };
  read.gate = running.gate;
  if (single_bot_) {
    read.token_rejected_at_start = [this](const std::string& reason) { stop_.trigger(1, reason); };
  } else {
    read.token_rejected_at_start = [name = bot.name](const std::string& reason) {
      spdlog::error("bot {}: {}; it is granted nothing until its token is fixed and reloaded", name,
                    reason);
    };
  }
  caf::anon_send(scheduler_, join_atom::value, running.key, std::move(read));
}

void active_term::stop_bot(running_bot& bot) {
  caf::anon_send(ledger_, leave_atom::value, bot.key);
  caf::anon_send(bot.gate, shutdown_atom::value);
  if (scheduler_) caf::anon_send(scheduler_, leave_atom::value, bot.key);
}

void active_term::rebuild_roster() {
  auto roster = std::make_shared<bot_roster>();
  for (const auto& [name, bot] : bots_) {
    roster->directory.add(bot.key, name, bot.definition.auth_tokens);
    roster->gates.emplace(bot.key, bot.gate);
  }
  roster->ledger = ledger_;
  roster_ = std::move(roster);
}

bot_roster_ptr active_term::reload(const std::vector<bot_definition>& bots) {
  std::map<std::string, const bot_definition*> wanted;
  for (const auto& bot : bots) wanted.emplace(bot.name, &bot);
  for (auto it = bots_.begin(); it != bots_.end();) {
    auto found = wanted.find(it->first);
    if (found == wanted.end()) {
      spdlog::info("bot {}: removed by the reload; its waiters are answered 503", it->first);
      stop_bot(it->second);
      it = bots_.erase(it);
      continue;
    }
    const auto& now = *found->second;
    auto& running = it->second;
    if (now == running.definition) {
      ++it;
      continue;
    }
    if (now.identify_interval != running.definition.identify_interval) {
      // The buckets' spacing itself: the bot starts anew (its journal rows keep its spacing and
      // budget); its waiters are answered 503 and come back.
      spdlog::info("bot {}: restarted by the reload (identify interval changed)", it->first);
      stop_bot(running);
      it = bots_.erase(it);
      continue;
    }
    const bool token_changed = now.discord_token != running.definition.discord_token;
    const bool buckets_changed =
        !now.discord_token && now.max_concurrency != running.definition.max_concurrency;
    running.definition = now;
    caf::anon_send(ledger_, join_atom::value, running.key, ledger_settings_of(now), true);
    if (token_changed) {
      // A new token is read at once; no token: the bot's limits are configured from now on.
      if (scheduler_) caf::anon_send(scheduler_, leave_atom::value, running.key);
      start_scheduler(running);
    }
    // Configured buckets re-form as a max_concurrency change from Discord does: every waiter
    // keeps its place (actors/gate.hpp).
    if (buckets_changed) caf::anon_send(running.gate, resize_atom::value, now.max_concurrency);
    spdlog::info("bot {}: settings changed by the reload", it->first);
    ++it;
  }
  for (const auto& bot : bots) {
    if (bots_.contains(bot.name)) continue;
    try {
      start_bot(bot);
    } catch (const storage::journal_error& e) {
      spdlog::error("bot {}: not started by the reload: {}", bot.name, e.what());
    }
  }
  rebuild_roster();
  return roster_;
}

active_term::~active_term() { stop_actors(); }

void active_term::stop_actors() {
  for (auto& [name, bot] : bots_) caf::anon_send_exit(bot.gate, caf::exit_reason::user_shutdown);
  for (const auto& handle :
       {caf::actor_cast<caf::actor>(ledger_), caf::actor_cast<caf::actor>(archive_),
        caf::actor_cast<caf::actor>(scheduler_)}) {
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
