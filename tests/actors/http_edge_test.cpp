// The HTTP edge in-process: the real broker on CAF's test multiplexer (no sockets) and test
// coordinator (a fake clock), with a fake gate that answers each waiter when the test says and a
// fake bucket that records what the edge reports. Bytes in, bytes out, time moved by hand.
#include "actors/http_edge.hpp"

#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/io/network/test_multiplexer.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <map>
#include <string>
#include <vector>

namespace gq::testing {
namespace {

using namespace std::chrono_literals;
using caf::io::network::test_multiplexer;

struct in_process_config : caf::actor_system_config {
  in_process_config() {
    load<caf::io::middleman>();
    set("scheduler.policy", caf::atom("testing"));
    set("middleman.network-backend", caf::atom("testing"));
  }
};

// What the fake bucket heard from the edge.
struct bucket_log {
  std::vector<std::pair<std::uint64_t, caf::actor_clock::time_point>> sent;
  std::vector<std::uint64_t> cancelled;
};

class http_edge_test : public ::testing::Test {
 protected:
  static constexpr unix_ms k_wall_start = 1'800'000'000'000;
  static constexpr std::uint16_t k_port = 5000;
  // Far above any file descriptor: the edge finds these are not sockets and writes through CAF.
  static constexpr std::int64_t k_first_connection = 1'000'000;

  http_edge_test()
      : system_(config_),
        sched_(dynamic_cast<caf::scheduler::test_coordinator&>(system_.scheduler())),
        mpx_(dynamic_cast<test_multiplexer&>(system_.middleman().backend())) {
    gate_ = system_.spawn([this](caf::event_based_actor* self) -> caf::behavior {
      return {
          [this, self](enqueue_atom, waiter_ticket ticket) {
            auto promise = self->make_response_promise<verdict>();
            waiters_.emplace(ticket.id, std::make_pair(ticket, promise));
            return promise;
          },
          [this](cancel_atom, std::uint64_t id, shard_id) { gate_cancels_.push_back(id); },
          [](shutdown_atom) {},
      };
    });
    bucket_ = system_.spawn([this](caf::event_based_actor*) -> caf::behavior {
      return {
          [this](sent_atom, std::uint64_t id, caf::timespan at) {
            heard_.sent.emplace_back(id, steady_instant(at));
          },
          [this](cancel_atom, std::uint64_t id) { heard_.cancelled.push_back(id); },
      };
    });
  }

  ~http_edge_test() override {
    // The timers still pending (the edge's deadline sweep, a grant's) hold messages from the edge
    // to itself, and with them the edge: dropped first, so that nothing keeps it alive.
    sched_.clock().cancel_all();
    waiters_.clear();  // the edge's requests end with their promises
    for (auto& actor : {edge_, gate_, bucket_})
      if (actor) caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    run();
  }

  void start(grant_writer_timing timing = exact_timing()) {
    http_edge_config config;
    config.bots = single_bot_roster(caf::actor_cast<gate_actor>(gate_), ledger_actor{});
    // An archive makes the edge the active queue's; these tests ask it nothing.
    config.archive = system_.spawn([](archive_actor::pointer) -> archive_actor::behavior_type {
      return {
          [](history_atom, const history_query&) { return std::vector<release_record>{}; },
          [](prune_atom) {},
      };
    });
    config.anchor = anchor_;
    config.grant_timing = timing;
    edge_ = system_.middleman().spawn_broker(http_edge, config);
    mpx_.provide_acceptor(k_port, acceptor_);
    caf::anon_send(edge_, listen_atom::value, std::string{"127.0.0.1"}, k_port);
    run();
  }

  // The timer lead needs a thread that sleeps; on the fake clock the timer is exact instead (the
  // lead is tested in tests/src/pacing/grant_writer_test.cpp).
  static grant_writer_timing exact_timing() {
    grant_writer_timing timing;
    timing.timer_lead = timing.max_pass_sleep = {};
    return timing;
  }

  // Runs every actor and every broker event until nothing is left to do.
  void run() {
    while (sched_.try_run_once() || mpx_.try_exec_runnable()) {
    }
  }

  void advance(caf::timespan by) {
    sched_.clock().advance_time(by);
    run();
  }

  caf::io::connection_handle connect() {
    const auto hdl = caf::io::connection_handle::from_int(k_first_connection + connections_++);
    mpx_.add_pending_connect(acceptor_, hdl);
    mpx_.accept_connection(acceptor_);
    run();
    return hdl;
  }

  void send(caf::io::connection_handle hdl, const std::string& bytes) {
    mpx_.virtual_send(hdl, std::vector<char>(bytes.begin(), bytes.end()));
    run();
  }

  // Everything the edge wrote on `hdl` since the last call, taken off the wire: the edge hears
  // that its write completed (the test multiplexer acknowledges no write by itself).
  std::string received(caf::io::connection_handle hdl) {
    auto& buffer = mpx_.output_buffer(hdl);
    std::string out(buffer.begin(), buffer.end());
    buffer.clear();
    if (!out.empty()) {
      caf::anon_send(edge_, caf::io::data_transferred_msg{hdl, out.size(), 0});
      run();
    }
    return out;
  }

  void hang_up(caf::io::connection_handle hdl) {
    caf::anon_send(edge_, caf::io::connection_closed_msg{hdl});
    run();
  }

  // The waiter the fake gate holds (the only one, or the newest).
  std::uint64_t newest_waiter() const {
    EXPECT_FALSE(waiters_.empty()) << "no request reached the gate";
    return waiters_.empty() ? 0 : waiters_.rbegin()->first;
  }

  // Grants the waiter, journaled and due `due_in` from now (negative: already past due).
  void grant(std::uint64_t waiter_id, caf::timespan due_in) {
    auto& [ticket, promise] = waiters_.at(waiter_id);
    verdict v;
    v.kind = verdict_kind::granted;
    v.due = (sched_.clock().now() + due_in).time_since_epoch();
    v.at = anchor_.to_unix(steady_instant(v.due));
    v.granted_by = caf::actor_cast<grant_owner_actor>(bucket_);
    promise.deliver(v);
    run();
  }

  in_process_config config_;
  caf::actor_system system_;
  caf::scheduler::test_coordinator& sched_;
  test_multiplexer& mpx_;
  clock_anchor anchor_{sched_.clock().now(), k_wall_start};
  caf::io::accept_handle acceptor_ = caf::io::accept_handle::from_int(1);
  std::int64_t connections_ = 0;
  caf::actor edge_;
  caf::actor gate_;
  std::map<std::uint64_t, std::pair<waiter_ticket, caf::typed_response_promise<verdict>>> waiters_;
  std::vector<std::uint64_t> gate_cancels_;
  caf::actor bucket_;
  bucket_log heard_;
};

constexpr const char* k_queue_request = "GET /?shard=3 HTTP/1.1\r\nHost: q\r\n\r\n";

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

TEST_F(http_edge_test, a_queue_request_reaches_the_gate_and_nothing_is_sent_while_it_waits) {
  start();
  const auto client = connect();
  send(client, k_queue_request);
  ASSERT_EQ(waiters_.size(), 1u);
  EXPECT_EQ(waiters_.begin()->second.first.shard, 3u);
  advance(10s);
  EXPECT_EQ(received(client), "");
}

TEST_F(http_edge_test, a_grant_is_written_at_its_due_instant_never_before) {
  start();
  const auto client = connect();
  send(client, k_queue_request);
  const auto id = newest_waiter();
  const auto due = sched_.clock().now() + 100ms;
  grant(id, 100ms);
  advance(99ms);
  // Network events make the edge ask the writer whether a grant fell due: still not this one.
  send(connect(), k_queue_request);
  EXPECT_EQ(received(client), "") << "written early";
  advance(1ms);
  const auto answer = received(client);
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 200")) << answer;
  EXPECT_NE(answer.find("You're free to connect now! :)"), std::string::npos) << answer;
  ASSERT_EQ(heard_.sent.size(), 1u) << "the bucket hears when its grant left";
  EXPECT_EQ(heard_.sent[0].first, id);
  EXPECT_EQ(heard_.sent[0].second, due) << "the interval runs from the moment it left";
}

TEST_F(http_edge_test, a_grant_due_already_is_written_at_once) {
  start();
  const auto client = connect();
  send(client, k_queue_request);
  grant(newest_waiter(), -5ms);
  EXPECT_TRUE(starts_with(received(client), "HTTP/1.1 200"));
  ASSERT_EQ(heard_.sent.size(), 1u);
  EXPECT_EQ(heard_.sent[0].second, sched_.clock().now());
}

TEST_F(http_edge_test, past_the_late_limit_a_grant_is_refused_with_retry_after_and_counts) {
  auto timing = exact_timing();
  timing.late_limit = 50ms;
  start(timing);
  const auto late = connect();
  send(late, k_queue_request);
  grant(newest_waiter(), -51ms);
  const auto answer = received(late);
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 503")) << answer;
  EXPECT_NE(answer.find("Retry-After: 1\r\n"), std::string::npos) << answer;
  EXPECT_EQ(heard_.sent.size(), 1u) << "its row stands: the bucket's interval runs from now";

  const auto in_time = connect();
  send(in_time, k_queue_request);
  grant(newest_waiter(), -50ms);
  EXPECT_TRUE(starts_with(received(in_time), "HTTP/1.1 200")) << "50 ms late is within the limit";
}

TEST_F(http_edge_test, without_a_late_limit_a_late_grant_is_written) {
  start();
  const auto client = connect();
  send(client, k_queue_request);
  grant(newest_waiter(), -10s);
  EXPECT_TRUE(starts_with(received(client), "HTTP/1.1 200"));
}

TEST_F(http_edge_test, a_hang_up_gives_a_held_grant_back_to_its_bucket_unwritten) {
  start();
  const auto client = connect();
  send(client, k_queue_request);
  const auto id = newest_waiter();
  grant(id, 100ms);
  hang_up(client);
  EXPECT_EQ(heard_.cancelled, std::vector<std::uint64_t>{id});
  EXPECT_TRUE(gate_cancels_.empty()) << "the grant, not the waiter, goes back";
  advance(1s);
  EXPECT_TRUE(heard_.sent.empty()) << "never written, never counted as sent";
}

TEST_F(http_edge_test, a_hang_up_before_the_grant_cancels_the_waiter_at_the_gate) {
  start();
  const auto client = connect();
  send(client, k_queue_request);
  const auto id = newest_waiter();
  hang_up(client);
  EXPECT_EQ(gate_cancels_, std::vector<std::uint64_t>{id});
  EXPECT_TRUE(heard_.cancelled.empty());
}

TEST_F(http_edge_test, stopping_refuses_a_held_grant_and_counts_it_from_its_due_instant) {
  start();
  const auto client = connect();
  send(client, k_queue_request);
  const auto id = newest_waiter();
  const auto due = sched_.clock().now() + 100ms;
  grant(id, 100ms);
  caf::anon_send(edge_, shutdown_atom::value);
  run();
  const auto answer = received(client);
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 503")) << answer;
  EXPECT_NE(answer.find("Retry-After: 1\r\n"), std::string::npos) << answer;
  ASSERT_EQ(heard_.sent.size(), 1u);
  EXPECT_EQ(heard_.sent[0], std::make_pair(id, due));
  advance(1s);
  EXPECT_EQ(heard_.sent.size(), 1u) << "reported once";
}

TEST_F(http_edge_test, grants_due_together_leave_in_one_pass_and_each_bucket_hears) {
  start();
  std::vector<caf::io::connection_handle> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(connect());
    send(clients.back(), k_queue_request);
  }
  for (const auto& [id, waiter] : waiters_) grant(id, 20ms);
  advance(20ms);
  for (const auto& client : clients) EXPECT_TRUE(starts_with(received(client), "HTTP/1.1 200"));
  EXPECT_EQ(heard_.sent.size(), 3u);
}

TEST_F(http_edge_test, a_malformed_shard_is_400_at_once_and_never_reaches_the_gate) {
  start();
  const auto client = connect();
  send(client, "GET /?shard=abc HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(starts_with(received(client), "HTTP/1.1 400"));
  EXPECT_TRUE(waiters_.empty());
}

}  // namespace
}  // namespace gq::testing
