#pragma once
// A deterministic actor system for tests: CAF's test coordinator runs every actor on the test's
// thread and owns a fake clock, so pacing is checked by moving time, never by sleeping.
// A fake HTTP edge plays the broker's part: it enqueues waiters and gives each grant to the real
// grant writer (src/pacing/grant_writer.hpp), whose port records each verdict with the fake time
// it was "written" at; the writer reports `sent` with that time. A hang-up reaches it first: a
// held (journaled) grant goes back to its bucket with `cancel`; otherwise the waiter is
// cancelled at the gate. Only the sockets are fake.

#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/gate.hpp"
#include "actors/ledger.hpp"
#include "actors/messages.hpp"
#include "src/pacing/grant_writer.hpp"
#include "storage/sqlite/history.hpp"
#include "storage/sqlite/journal.hpp"

namespace gq::testing {

using namespace std::chrono_literals;

inline caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  return cfg;
}

struct received {
  verdict result;
  caf::actor_clock::time_point at;  // fake time at which the edge got it
};

class actor_fixture : public ::testing::Test {
 protected:
  static constexpr unix_ms k_wall_start = 1'800'000'000'000;

  actor_fixture()
      : system_(testing_config(config_)),
        sched_(dynamic_cast<caf::scheduler::test_coordinator&>(system_.scheduler())) {
    auto dir = std::filesystem::temp_directory_path() /
               ("gq-actor-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir);
    dir_ = dir;
    db_path_ = (dir / "journal.db").string();
    anchor_ = {sched_.clock().now(), k_wall_start};
  }

  ~actor_fixture() override {
    if (gate_) caf::anon_send_exit(gate_, caf::exit_reason::user_shutdown);
    if (ledger_) caf::anon_send_exit(ledger_, caf::exit_reason::user_shutdown);
    if (edge_) caf::anon_send_exit(edge_, caf::exit_reason::user_shutdown);
    sched_.run();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  static int& counter() {
    static int n = 0;
    return n;
  }

  // Limits for a config-mode queue: `daily` grants per window, `max_concurrency` buckets.
  session_limits configured(std::uint32_t daily, std::uint32_t max_concurrency = 1) const {
    session_limits limits;
    limits.total = daily;
    limits.remaining = daily;
    limits.max_concurrency = max_concurrency;
    limits.source = limits_source::config;
    return limits;
  }

  // Starts ledger, gate and buckets. `limits` nullopt: limits come from Discord (none known yet).
  void start(std::optional<session_limits> limits, std::chrono::milliseconds interval = 5000ms,
             bool reject = false, std::vector<unix_ms> resume_at = {}) {
    journal_ = std::make_shared<storage::sqlite_journal>(
        db_path_, storage::durability::normal,
        deferred_check_ ? storage::integrity_check::deferred : storage::integrity_check::at_open);
    ledger_config lcfg;
    lcfg.anchor = anchor_;
    lcfg.await_verified = deferred_check_;
    ledger_ = spawn_ledger(system_, journal_, lcfg, actor_thread::scheduler);
    ledger_bot_config bot;
    bot.reject_when_exhausted = reject;
    bot.configured = limits;
    bot.shard_hourly_limit = shard_hourly_limit_;
    bot.reserve = reserve_;
    ask<bot_recovery>(ledger_, join_atom::value, k_bot, bot);
    gate_config gcfg;
    gcfg.ledger = ledger_;
    gcfg.bot = k_bot;
    gcfg.anchor = anchor_;
    gcfg.interval = interval;
    gcfg.max_concurrency = limits ? limits->max_concurrency : 1;
    gcfg.resume_at = std::move(resume_at);
    gcfg.handoff = handoff_;
    gcfg.widening = widening_;
    gcfg.widened = widened_;
    gate_ = system_.spawn(gate, gcfg);
    edge_ = spawn_edge();
    sched_.run();
  }

  // Stops gate, buckets and ledger as a process exit would and starts them again on the same
  // journal (the fake edge's record of earlier verdicts stays).
  void restart(std::optional<session_limits> limits, std::chrono::milliseconds interval = 5000ms) {
    for (const auto& handle :
         {caf::actor_cast<caf::actor>(gate_), caf::actor_cast<caf::actor>(ledger_), edge_})
      caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
    sched_.run();
    journal_.reset();
    start(limits, interval);
  }

  // Hands a waiter to the gate, as the HTTP edge does for GET /?shard=N (and &initial=true).
  void enqueue(std::uint64_t id, shard_id shard = {}, bool initial = false) {
    waiter_ticket ticket{id, shard, anchor_.to_unix(sched_.clock().now()), connection_of(id),
                         initial};
    caf::anon_send(edge_, enqueue_atom::value, ticket);
    sched_.run();
  }

  // POST /outcome?shard=N&result=R, reported now.
  outcome_receipt report(std::uint64_t shard, outcome_result result,
                         std::optional<std::uint32_t> code = std::nullopt) {
    const outcome_report r{shard, {result, code, anchor_.to_unix(sched_.clock().now())}};
    return ask<outcome_receipt>(gate_, outcome_atom::value, r);
  }

  void hang_up(std::uint64_t id, shard_id shard = {}) {
    caf::anon_send(edge_, cancel_atom::value, id, shard);
    sched_.run();
  }

  void advance(caf::timespan how_much) {
    sched_.advance_time(how_much);
    sched_.run();
  }

  // The fake clock jumps: timers set while handling a jump start from its end. Long stretches
  // are walked in steps so that a chain of grants plays out as it would in real time.
  void advance_by_steps(caf::timespan total, caf::timespan step) {
    for (caf::timespan done{0}; done < total; done += step) advance(step);
  }

  bool granted(std::uint64_t id) const {
    auto i = verdicts_->find(id);
    return i != verdicts_->end() && i->second.result.kind == verdict_kind::granted;
  }

  std::optional<received> verdict_of(std::uint64_t id) const {
    auto i = verdicts_->find(id);
    if (i == verdicts_->end()) return std::nullopt;
    return i->second;
  }

  std::vector<std::uint64_t> grant_order() const { return *order_; }

  // The connection key the fake edge gives waiter `id` (the real edge: its socket).
  static std::int32_t connection_of(std::uint64_t id) {
    return 1000 + static_cast<std::int32_t>(id);
  }

  std::vector<release_record> journal_rows() {
    storage::history reader{db_path_};
    history_filter all;
    all.limit = history_filter::k_max_limit;
    return reader.query(all);
  }

  caf::actor_clock::time_point now() { return sched_.clock().now(); }

  template <class T, class Handle, class... Ts>
  T ask(const Handle& dest, Ts... xs) {
    auto out = std::make_shared<std::optional<T>>();
    auto asker = system_.spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...).then([=](T value) { *out = std::move(value); });
    });
    sched_.run();
    EXPECT_TRUE(out->has_value());
    return out->value_or(T{});
  }

  // The one bot of these tests: the ledger's books and the buckets' permits are its.
  static constexpr bot_key k_bot = 0;

  caf::actor_system_config config_;
  caf::actor_system system_;
  caf::scheduler::test_coordinator& sched_;
  std::filesystem::path dir_;
  std::string db_path_;
  clock_anchor anchor_;
  // Set before start(): the journal defers its integrity check and the ledger awaits `verified`,
  // as in the server.
  bool deferred_check_ = false;
  // Set before start(): the loop guard (off unless a test turns it on), the reserve, widening.
  std::uint32_t shard_hourly_limit_ = 0;
  std::optional<std::uint32_t> reserve_ = 0;
  widening_rule widening_{};
  std::vector<bucket_widening> widened_;
  std::shared_ptr<storage::journal> journal_;
  // What the buckets hand to the edge beside the verdicts; the fake edge leaves it alone, so a
  // test reads everything handed off.
  std::shared_ptr<grant_handoff> handoff_ = std::make_shared<grant_handoff>();
  ledger_actor ledger_;
  gate_actor gate_;
  caf::actor edge_;
  std::shared_ptr<std::map<std::uint64_t, received>> verdicts_ =
      std::make_shared<std::map<std::uint64_t, received>>();
  std::shared_ptr<std::vector<std::uint64_t>> order_ =
      std::make_shared<std::vector<std::uint64_t>>();

 private:
  using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
  using report_atom = caf::atom_constant<caf::atom("report")>;

  struct held_grant {
    std::uint64_t waiter_id = 0;
    caf::actor_clock::time_point due;
    grant_owner_actor bucket;
    verdict result;
  };

  // The real grant writer on the fake clock, with no lead (the fake timer is exact): each
  // "write" records the verdict at the fake time it left.
  struct recording_port {
    caf::event_based_actor* self;
    std::shared_ptr<std::map<std::uint64_t, received>> verdicts;
    std::shared_ptr<std::vector<std::uint64_t>> order;
    caf::actor_clock::time_point now() const { return self->clock().now(); }
    void sleep_until(caf::actor_clock::time_point) const { ADD_FAILURE() << "no lead, no sleep"; }
    void set_timer(caf::actor_clock::time_point at) const {
      self->delayed_send(self, at - now(), deliver_atom::value);
    }
    void set_report_timer(caf::actor_clock::duration_type after) const {
      self->delayed_send(self, after, report_atom::value);
    }
    bool live(const held_grant&) const { return true; }  // a hang-up gives its grant back first
    bool write(const held_grant& grant) const {
      (*verdicts)[grant.waiter_id] = {grant.result, now()};
      order->push_back(grant.waiter_id);
      return true;
    }
    void refuse(const held_grant& grant, grant_refusal) const {
      (*verdicts)[grant.waiter_id] = {verdict::of(verdict_kind::shutting_down), now()};
    }
    void give_back(const held_grant& grant) const {
      self->send(grant.bucket, cancel_atom::value, grant.waiter_id);
    }
    void report(const grant_owner_actor& bucket, std::uint64_t waiter_id,
                caf::actor_clock::time_point at) const {
      self->send(bucket, sent_atom::value, waiter_id, at.time_since_epoch());
    }
    void dropped_late(std::size_t) const {}
  };

  caf::actor spawn_edge() {
    auto verdicts = verdicts_;
    auto order = order_;
    auto gate_handle = gate_;
    return system_.spawn([=](caf::event_based_actor* self) -> caf::behavior {
      auto port = std::make_shared<recording_port>(recording_port{self, verdicts, order});
      grant_writer_timing exact;
      exact.timer_lead = exact.max_pass_sleep = {};
      auto writer = std::make_shared<grant_writer<held_grant, recording_port>>(*port, exact);
      return {
          [=](enqueue_atom, waiter_ticket ticket) {
            self->request(gate_handle, caf::infinite, enqueue_atom::value, ticket)
                .then(
                    [=](verdict result) {
                      if (result.kind != verdict_kind::granted) {
                        (*verdicts)[ticket.id] = {result, self->clock().now()};
                        return;
                      }
                      writer->hold(
                          {ticket.id, steady_instant(result.due), result.granted_by, result});
                    },
                    [](caf::error&) {});
          },
          [=](deliver_atom) {
            (void)port;  // kept alive with the writer that refers to it
            writer->on_timer();
          },
          [=](report_atom) { writer->on_report_timer(); },
          [=](cancel_atom, std::uint64_t id, shard_id shard) {
            if (!writer->give_back(id)) self->send(gate_handle, cancel_atom::value, id, shard);
          },
      };
    });
  }
};

}  // namespace gq::testing
