// Connections that hold no waiting request cannot lock the queue out: a request must arrive
// whole in time (408), an idle keep-alive connection closes, and at the connection cap the
// oldest such connection makes room for a new one. Waiters are never timed out or evicted.
// The contract: docs/HTTP_API.md ("Connections").

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

// The server keeps this many file descriptors from its limit for itself (k_reserved_fds in
// src/app/server.cpp); the rest is its connection cap.
constexpr unsigned k_reserved_files = 64;

TEST(edge_timeouts, half_a_request_gets_408_once_the_request_timeout_passes) {
  server_process server({{"QUEUE_REQUEST_TIMEOUT_S", "1"}});
  ASSERT_TRUE(server.start());
  raw_connection connection(server.port());
  const auto sent_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(connection.send_all("GET /?shard=0 HTTP/1.1\r\nHost: gateway-queue\r\n"));
  auto response = connection.read_response(5s);
  ASSERT_TRUE(response) << "half a request was held past its deadline\n" << server.output();
  EXPECT_EQ(response->status, 408);
  EXPECT_GE(ms_between(sent_at, response->first_byte_at), 900) << "answered before the deadline";
  EXPECT_TRUE(connection.wait_closed(2s));
  EXPECT_EQ(waiting_count(server.port()), 0) << "the half request became a waiter";
}

TEST(edge_timeouts, a_connection_that_sends_nothing_is_closed_after_the_request_timeout) {
  server_process server({{"QUEUE_REQUEST_TIMEOUT_S", "1"}, {"QUEUE_IDLE_TIMEOUT_S", "3600"}});
  ASSERT_TRUE(server.start());
  raw_connection connection(server.port());
  ASSERT_TRUE(connection.connected());
  EXPECT_TRUE(connection.wait_closed(5s)) << "a silent connection was held\n" << server.output();
  EXPECT_EQ(connection.extra_bytes(), "") << "nothing was asked, so nothing is answered";
}

TEST(edge_timeouts, an_idle_keep_alive_connection_is_closed_silently) {
  server_process server({{"QUEUE_IDLE_TIMEOUT_S", "1"}, {"QUEUE_REQUEST_TIMEOUT_S", "3600"}});
  ASSERT_TRUE(server.start());
  raw_connection connection(server.port());
  ASSERT_TRUE(connection.send_all(request_text("/health")));
  auto response = connection.read_response(5s);
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  EXPECT_TRUE(connection.wait_closed(5s)) << "an idle keep-alive connection was held\n"
                                          << server.output();
  EXPECT_EQ(connection.extra_bytes(), "");
}

TEST(edge_timeouts, a_keep_alive_connection_in_use_is_not_closed) {
  server_process server({{"QUEUE_IDLE_TIMEOUT_S", "2"}});
  ASSERT_TRUE(server.start());
  raw_connection connection(server.port());
  // A request every 0.5 s for 5 s: each one restarts the idle time.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(connection.send_all(request_text("/health"))) << "request " << i;
    auto response = connection.read_response(5s);
    ASSERT_TRUE(response) << "request " << i << "\n" << server.output();
    EXPECT_EQ(response->status, 200);
    std::this_thread::sleep_for(500ms);
  }
}

TEST(edge_timeouts, a_waiter_is_never_timed_out_however_long_it_waits) {
  server_process server({{"QUEUE_REQUEST_TIMEOUT_S", "1"},
                         {"QUEUE_IDLE_TIMEOUT_S", "1"},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "4000"}});
  ASSERT_TRUE(server.start());
  pending_request first(server.port(), "/?shard=0");
  ASSERT_EQ(first.status(), 200) << server.output();
  pending_request waiter(server.port(), "/?shard=1");
  EXPECT_EQ(waiter.status(), 200) << "a waiter was timed out\n" << server.output();
  EXPECT_GE(ms_between_exact(first.arrived_at(), waiter.arrived_at()), 3900.0)
      << "the waiter did not wait past both timeouts";
}

TEST(edge_timeouts, at_the_cap_the_oldest_idle_connections_make_room_and_waiters_stay) {
  constexpr unsigned k_files = 200;
  constexpr std::size_t k_cap = k_files - k_reserved_files;
  constexpr std::size_t k_waiters = 5;
  constexpr std::size_t k_beyond = 20;
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "600000"}});
  server.limit_open_files(k_files);
  ASSERT_TRUE(server.start());
  ASSERT_EQ(http_get(server.port(), "/?shard=0").status, 200) << server.output();

  // The waiters are the oldest connections: evicting oldest-first must pass over them.
  pending_list waiters;
  for (std::size_t i = 0; i < k_waiters; ++i)
    waiters.push_back(std::make_unique<pending_request>(server.port(), "/?shard=1"));
  ASSERT_TRUE(wait_for_waiting(server.port(), k_waiters)) << server.output();

  // Idle connections (they send nothing) up to the cap and k_beyond past it, one at a time so
  // that the server accepts them in this order.
  std::vector<std::unique_ptr<raw_connection>> idle;
  for (std::size_t i = 0; i < k_cap - k_waiters + k_beyond; ++i) {
    idle.push_back(std::make_unique<raw_connection>(server.port()));
    ASSERT_TRUE(idle.back()->connected()) << "connection " << i;
  }
  // A real client still gets in, and sees every waiter still waiting.
  EXPECT_EQ(waiting_count(server.port()), static_cast<long long>(k_waiters))
      << "a new client was kept out, or a waiter was evicted\n"
      << server.output();

  std::size_t closed = 0;
  while (closed < idle.size() && idle[closed]->wait_closed(closed == 0 ? 2000ms : 200ms)) ++closed;
  EXPECT_GE(closed, k_beyond) << "fewer connections closed than opened past the cap";
  EXPECT_LE(closed, k_beyond + 4) << "more connections closed than needed to make room";
  for (std::size_t i = closed; i < idle.size(); ++i)
    EXPECT_FALSE(idle[i]->peer_closed()) << "connection " << i << " closed out of age order";
  EXPECT_TRUE(idle[closed]->stays_silent(200ms)) << "a younger connection was closed";
  for (auto& waiter : waiters) EXPECT_FALSE(waiter->done()) << "a waiter was answered or evicted";
  EXPECT_TRUE(server.alive()) << server.output();
}

}  // namespace
}  // namespace gq::integration
