// The asynchronous HTTP edge through the real binary: clients that hang up, FIFO under
// concurrency, keep-alive, pipelining, HTTP/1.0 and requests too large or malformed to serve.
// The contract: docs/HTTP_API.md ("Queue requests", "Connections", "Status codes").

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "storage/test_support.hpp"

namespace gq::integration {
namespace {

using storage::testing::raw_db;

constexpr const char* k_granted_message = "You're free to connect now! :)";

bool is_grant(const std::optional<raw_response>& response) {
  if (!response || response->status != 200) return false;
  auto body = response->json();
  return body.is_object() && body.value("message", "") == k_granted_message;
}

std::string shard_target(long long shard) { return "/?shard=" + std::to_string(shard); }

// Sends `request` on a fresh connection and returns the answer; the server must close the
// connection after it (the rest of such a byte stream cannot be trusted).
std::optional<raw_response> answer_then_close(const server_process& server,
                                              std::string_view request) {
  raw_connection connection(server.port());
  connection.send_all(request);
  auto response = connection.read_response(5s);
  EXPECT_TRUE(connection.wait_closed(2s)) << "the connection stayed open";
  return response;
}

// --- clients that hang up --------------------------------------------------------------------

TEST(edge, waiter_that_hangs_up_is_dropped_and_does_not_use_the_interval) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "1000"}, {"QUEUE_DAILY_LIMIT", "100"}});
  ASSERT_TRUE(server.start());
  pending_request a(server.port(), shard_target(0));
  ASSERT_EQ(a.status(), 200) << server.output();
  pending_request b(server.port(), shard_target(1));
  pending_request c(server.port(), shard_target(2));
  ASSERT_TRUE(wait_for_waiting(server.port(), 2)) << server.output();

  b.hang_up();
  ASSERT_EQ(c.status(), 200) << server.output();
  EXPECT_GE(ms_between_exact(a.arrived_at(), c.arrived_at()), 1000.0);
  EXPECT_FALSE(b.get().has_value());
  // C's grant was due one interval after A's, as the server decided it; B's slot would have
  // made it two.
  auto grants = journaled_grants(server.port());
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_GE(grants[1].released_at - grants[0].released_at, 1000);
  EXPECT_LT(grants[1].released_at - grants[0].released_at, 2000)
      << "C waited for the slot of B, who had hung up";

  auto status = http_get(server.port(), "/status").json();
  EXPECT_EQ(status.value("waiting", -1), 0) << status.dump();
  EXPECT_EQ(status.value("remaining", -1), 98) << "a dropped waiter was counted: " << status.dump();
  raw_db journal(server.db_path());
  EXPECT_EQ(journal.scalar("SELECT count(*) FROM releases WHERE shard = 1"), "0");
  EXPECT_EQ(journal.scalar("SELECT group_concat(shard) FROM (SELECT shard FROM releases "
                           "ORDER BY id)"),
            "0,2");
  EXPECT_TRUE(server.alive()) << server.last_exit().describe() << "\n" << server.output();
}

TEST(edge, many_hang_ups_mid_burst_leave_the_survivors_paced_back_to_back) {
  constexpr int k_waiters = 20;
  constexpr double k_interval = 400.0;
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "400"}});
  ASSERT_TRUE(server.start());
  pending_request primer(server.port(), shard_target(1000));
  ASSERT_EQ(primer.status(), 200) << server.output();

  std::vector<std::string> targets;
  for (int shard = 0; shard < k_waiters; ++shard) targets.push_back(shard_target(shard));
  auto waiters = fire_concurrently(server.port(), targets, 5ms);
  for (int shard = 1; shard < k_waiters; shard += 2) waiters[shard]->hang_up();

  steady_time previous = primer.arrived_at();
  for (int shard = 0; shard < k_waiters; shard += 2) {
    ASSERT_EQ(waiters[shard]->status(), 200) << "shard " << shard << "\n" << server.output();
    EXPECT_GE(ms_between_exact(previous, waiters[shard]->arrived_at()), k_interval)
        << "shard " << shard;
    previous = waiters[shard]->arrived_at();
  }
  // Back to back as the server decided them: each survivor due one interval after the grant
  // before it, in arrival order; a hung-up slot in between would make it two.
  auto grants = journaled_grants(server.port());
  ASSERT_EQ(grants.size(), 1u + k_waiters / 2);
  const auto interval = static_cast<long long>(k_interval);
  for (std::size_t i = 1; i < grants.size(); ++i) {
    const long long shard = grants[i].shard;
    EXPECT_EQ(shard, 2 * static_cast<long long>(i - 1));
    EXPECT_GE(grants[i].released_at - grants[i - 1].released_at, interval) << "shard " << shard;
    EXPECT_LT(grants[i].released_at - grants[i - 1].released_at, 2 * interval)
        << "shard " << shard << " waited for a hung-up slot";
  }
  for (int shard = 1; shard < k_waiters; shard += 2) {
    EXPECT_FALSE(waiters[shard]->get().has_value()) << "shard " << shard;
  }

  raw_db journal(server.db_path());
  EXPECT_EQ(journal.scalar("SELECT count(*) FROM releases"), std::to_string(1 + k_waiters / 2));
  EXPECT_EQ(journal.scalar("SELECT count(*) FROM releases WHERE shard % 2 = 1"), "0");
  EXPECT_TRUE(server.alive()) << server.last_exit().describe() << "\n" << server.output();
}

// A grant is journaled ~100 ms before it is due and then held by the edge. Clients that hang up
// in that window cost nobody a slot: the grant goes, unwritten, to the next live waiter of the
// bucket at the same due instant, and the journal row (one per grant) names the shard that got
// the 200. Three hang-ups land in the window here (B1 while its grant is held, B2 and B3, queued
// behind it, at once after), ahead of C. The window is asserted, not hoped for: B1's row is in
// the journal before anyone hangs up, and at the end that same row, at the same due instant,
// names C (a hang-up after B1's 200 had left would leave B1's row and give C one of its own).
TEST(edge, hang_ups_while_the_grant_is_held_pass_it_to_the_next_waiter_on_time) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "1000"}});
  ASSERT_TRUE(server.start());
  pending_request a(server.port(), shard_target(0));
  ASSERT_EQ(a.status(), 200) << server.output();
  pending_request b1(server.port(), shard_target(1));
  ASSERT_TRUE(wait_for_waiting(server.port(), 1)) << server.output();
  pending_request b2(server.port(), shard_target(2));
  ASSERT_TRUE(wait_for_waiting(server.port(), 2)) << server.output();
  pending_request b3(server.port(), shard_target(3));
  ASSERT_TRUE(wait_for_waiting(server.port(), 3)) << server.output();
  pending_request c(server.port(), shard_target(4));
  ASSERT_TRUE(wait_for_waiting(server.port(), 4)) << server.output();

  raw_db journal(server.db_path(), SQLITE_OPEN_READONLY);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{3};
  while (journal.scalar("SELECT count(*) FROM releases") != "2" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds{500});
  }
  // B1's grant is journaled before anyone hangs up: the hang-ups fall after its commit.
  const auto held = journal.rows("SELECT id, shard, released_at FROM releases ORDER BY id");
  ASSERT_EQ(held.size(), 2u) << "B1's grant was not journaled within 3 s\n" << server.output();
  ASSERT_EQ(held[1][1], "1") << "the held grant is B1's";
  b1.hang_up();
  b2.hang_up();
  b3.hang_up();
  ASSERT_EQ(c.status(), 200) << server.output();
  EXPECT_GE(ms_between_exact(a.arrived_at(), c.arrived_at()), 1000.0) << "never early";
  for (auto* gone : {&b1, &b2, &b3}) EXPECT_FALSE(gone->get().has_value()) << gone->target();
  // The re-attribution is committed with the ledger's next commit, at once when nothing else is.
  const auto rows_deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
  std::string shards;
  while ((shards = journal.scalar("SELECT group_concat(shard) FROM (SELECT shard FROM releases "
                                  "ORDER BY id)")) != "0,4" &&
         std::chrono::steady_clock::now() < rows_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  EXPECT_EQ(shards, "0,4") << "one row per grant, naming the shard that got the 200";
  // C got B1's grant itself: its row, at the instant decided for B1, one interval after A's (an
  // extra interval for the hang-ups would have made it two).
  EXPECT_EQ(
      journal.scalar("SELECT shard || ' ' || released_at FROM releases WHERE id = " + held[1][0]),
      "4 " + held[1][2])
      << "C did not take B1's grant at its due instant";
  const long long spacing = std::stoll(held[1][2]) - std::stoll(held[0][2]);
  EXPECT_GE(spacing, 1000);
  EXPECT_LT(spacing, 2000) << "B1's grant was due an interval late";
  auto status = http_get(server.port(), "/status").json();
  EXPECT_EQ(status.value("waiting", -1), 0) << status.dump();
  EXPECT_TRUE(server.alive()) << server.last_exit().describe() << "\n" << server.output();
}

// --- order -----------------------------------------------------------------------------------

TEST(edge, grants_within_a_bucket_follow_connect_order_under_concurrency) {
  constexpr int k_max_concurrency = 3;
  constexpr int k_per_bucket = 10;
  server_process server({{"QUEUE_MAX_CONCURRENCY", std::to_string(k_max_concurrency)},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "150"}});
  ASSERT_TRUE(server.start());

  // Buckets 0 and 1 interleaved: shard k*3 is the k-th of bucket 0, k*3+1 the k-th of bucket 1.
  std::vector<std::string> targets;
  for (int k = 0; k < k_per_bucket; ++k) {
    targets.push_back(shard_target(k * k_max_concurrency));
    targets.push_back(shard_target(k * k_max_concurrency + 1));
  }
  auto requests = fire_concurrently(server.port(), targets, 15ms);

  for (int bucket = 0; bucket < 2; ++bucket) {
    steady_time previous{};
    for (int k = 0; k < k_per_bucket; ++k) {
      auto& request = requests[static_cast<std::size_t>(2 * k + bucket)];
      ASSERT_EQ(request->status(), 200) << request->target() << "\n" << server.output();
      if (k > 0) {
        EXPECT_GT(request->arrived_at(), previous)
            << request->target() << " was granted before an earlier waiter of bucket " << bucket;
        EXPECT_GE(ms_between_exact(previous, request->arrived_at()), 150.0) << request->target();
      }
      previous = request->arrived_at();
    }
  }
  raw_db journal(server.db_path());
  for (int bucket = 0; bucket < 2; ++bucket) {
    std::string expected;
    for (int k = 0; k < k_per_bucket; ++k) {
      expected += (k > 0 ? "," : "") + std::to_string(k * k_max_concurrency + bucket);
    }
    EXPECT_EQ(journal.scalar("SELECT group_concat(shard) FROM (SELECT shard FROM releases "
                             "WHERE bucket = " +
                             std::to_string(bucket) + " ORDER BY id)"),
              expected);
  }
}

// --- connections -----------------------------------------------------------------------------

TEST(edge, keep_alive_connection_answers_sequential_requests) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  raw_connection connection(server.port());
  ASSERT_TRUE(connection.connected());

  ASSERT_TRUE(connection.send_all(request_text("/health")));
  auto health = connection.read_response(5s);
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(lower(health->header("connection")), "keep-alive");
  EXPECT_FALSE(health->header("content-length").empty());

  ASSERT_TRUE(connection.send_all(request_text(shard_target(0))));
  auto grant = connection.read_response(5s);
  EXPECT_TRUE(is_grant(grant));
  EXPECT_EQ(lower(grant->header("connection")), "keep-alive");

  ASSERT_TRUE(connection.stays_silent(200ms)) << "the server closed a keep-alive connection";

  ASSERT_TRUE(connection.send_all(request_text("/status", "Connection: close\r\n")));
  auto status = connection.read_response(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(lower(status->header("connection")), "close");
  EXPECT_TRUE(connection.wait_closed(2s));
}

TEST(edge, pipelined_queue_requests_are_answered_in_order_an_interval_apart) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "500"}});
  ASSERT_TRUE(server.start());
  raw_connection connection(server.port());
  ASSERT_TRUE(connection.connected());
  ASSERT_TRUE(connection.send_all(request_text(shard_target(0)) +
                                  request_text(shard_target(1), "Connection: close\r\n")));
  auto first = connection.read_response(5s);
  auto second = connection.read_response(5s);
  ASSERT_TRUE(is_grant(first));
  ASSERT_TRUE(is_grant(second));
  EXPECT_GE(ms_between_exact(first->arrived_at, second->arrived_at), 500.0);
  raw_db journal(server.db_path());
  EXPECT_EQ(journal.scalar("SELECT group_concat(shard) FROM (SELECT shard FROM releases "
                           "ORDER BY id)"),
            "0,1");
}

TEST(edge, pipelined_request_behind_a_waiter_is_answered_after_it) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "500"}});
  ASSERT_TRUE(server.start());
  pending_request primer(server.port(), shard_target(0));
  ASSERT_EQ(primer.status(), 200);

  raw_connection connection(server.port());
  ASSERT_TRUE(connection.send_all(request_text(shard_target(0)) + request_text("/health")));
  auto first = connection.read_response(5s);
  auto second = connection.read_response(5s);
  ASSERT_TRUE(is_grant(first)) << (first ? first->body : "no answer");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->json(), nlohmann::json({{"status", "ok"}})) << second->body;
  EXPECT_GE(ms_between_exact(primer.arrived_at(), first->arrived_at), 500.0);
  EXPECT_GE(second->arrived_at, first->arrived_at);
}

TEST(edge, http10_request_is_answered_and_the_connection_closed) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  {
    raw_connection connection(server.port());
    ASSERT_TRUE(connection.send_all("GET /health HTTP/1.0\r\n\r\n"));
    auto health = connection.read_response(5s);
    ASSERT_TRUE(health.has_value());
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(lower(health->header("connection")), "close");
    EXPECT_TRUE(connection.wait_closed(2s));
  }
  {
    raw_connection connection(server.port());
    ASSERT_TRUE(connection.send_all("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto health = connection.read_response(5s);
    ASSERT_TRUE(health.has_value());
    EXPECT_EQ(lower(health->header("connection")), "keep-alive");
    EXPECT_TRUE(connection.stays_silent(200ms));
  }
}

// A grant is written when the bucket's turn comes, not while the request is being read: the
// connection must still be closed after it when the request asked for that.
TEST(edge, grant_to_a_request_without_keep_alive_closes_the_connection) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "300"}});
  ASSERT_TRUE(server.start());
  for (const std::string& request : {std::string("GET /?shard=3 HTTP/1.0\r\n\r\n"),
                                     request_text(shard_target(3), "Connection: close\r\n")}) {
    raw_connection connection(server.port());
    ASSERT_TRUE(connection.send_all(request));
    auto grant = connection.read_response(5s);
    ASSERT_TRUE(is_grant(grant)) << request;
    EXPECT_EQ(lower(grant->header("connection")), "close") << request;
    EXPECT_TRUE(connection.wait_closed(2s)) << request;
  }
}

TEST(edge, request_body_is_read_and_ignored) {
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "50"}});
  ASSERT_TRUE(server.start());
  raw_connection connection(server.port());
  ASSERT_TRUE(connection.send_all(
      "POST /?shard=0 HTTP/1.1\r\nHost: q\r\nContent-Length: 11\r\n\r\nhello world"
      "POST /?shard=1 HTTP/1.1\r\nHost: q\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n" +
      request_text("/health", "Connection: close\r\n")));
  EXPECT_TRUE(is_grant(connection.read_response(5s)));
  EXPECT_TRUE(is_grant(connection.read_response(5s)));
  auto health = connection.read_response(5s);
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->json(), nlohmann::json({{"status", "ok"}}));
}

// --- requests refused for their size or syntax -----------------------------------------------

TEST(edge, request_target_over_8_kib_is_414_and_closed) {
  server_process server;
  ASSERT_TRUE(server.start());
  const std::string target = "/?shard=0&pad=" + std::string(8193 - 14, 'a');
  ASSERT_EQ(target.size(), 8193u);
  auto response = answer_then_close(server, request_text(target));
  ASSERT_TRUE(response.has_value()) << server.output();
  EXPECT_EQ(response->status, 414);
  EXPECT_EQ(http_get(server.port(), "/history").json()["releases"].size(), 0u);
}

TEST(edge, request_target_of_exactly_8_kib_is_served) {
  server_process server;
  ASSERT_TRUE(server.start());
  raw_connection connection(server.port());
  const std::string target = "/?shard=0&pad=" + std::string(8192 - 14, 'a');
  ASSERT_EQ(target.size(), 8192u);
  connection.send_all(request_text(target));
  EXPECT_TRUE(is_grant(connection.read_response(5s)));
}

TEST(edge, headers_over_16_kib_are_431_and_closed) {
  server_process server;
  ASSERT_TRUE(server.start());
  auto response = answer_then_close(
      server, request_text(shard_target(0), "X-Pad: " + std::string(20000, 'b') + "\r\n"));
  ASSERT_TRUE(response.has_value()) << server.output();
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(http_get(server.port(), "/history").json()["releases"].size(), 0u);
}

TEST(edge, client_that_pipelines_without_reading_is_disconnected) {
  server_process server;
  ASSERT_TRUE(server.start());
  raw_connection connection(server.port());
  // 16 MiB of /health requests, never reading an answer: ~66 MiB of answers if the server
  // buffered them all. It must give up on the client once the socket buffers (a few MiB on
  // loopback) and 64 KiB more are full, which fails our sends well before the end.
  std::string chunk;
  while (chunk.size() < 64 * 1024) chunk += "GET /health HTTP/1.1\r\nHost: q\r\n\r\n";
  std::size_t sent = 0;
  while (sent < 16u * 1024 * 1024 && connection.send_all(chunk)) sent += chunk.size();
  EXPECT_LT(sent, 16u * 1024 * 1024) << "the server kept buffering answers nobody reads";
  EXPECT_EQ(http_get(server.port(), "/health").status, 200);
  EXPECT_TRUE(server.alive()) << server.output();
}

TEST(edge, garbage_is_400_and_closed) {
  server_process server;
  ASSERT_TRUE(server.start());
  const char garbage[] = "\x16\x03\x01\x02\x00 not http at all\r\n\r\n";
  auto response = answer_then_close(server, std::string(garbage, sizeof(garbage) - 1));
  ASSERT_TRUE(response.has_value()) << server.output();
  EXPECT_EQ(response->status, 400);
  auto body = response->json();
  EXPECT_TRUE(body.is_object() && body.contains("error")) << response->body;
  EXPECT_TRUE(server.alive()) << server.output();
}

TEST(edge, unknown_method_absolute_form_and_asterisk_targets_are_400) {
  server_process server;
  ASSERT_TRUE(server.start());
  for (const std::string& request :
       {std::string("BREW /?shard=0 HTTP/1.1\r\nHost: q\r\n\r\n"),
        std::string("GET http://q/?shard=0 HTTP/1.1\r\nHost: q\r\n\r\n"),
        std::string("OPTIONS * HTTP/1.1\r\nHost: q\r\n\r\n")}) {
    raw_connection connection(server.port());
    connection.send_all(request);
    auto response = connection.read_response(5s);
    ASSERT_TRUE(response.has_value()) << request;
    EXPECT_EQ(response->status, 400) << request;
  }
  EXPECT_EQ(http_get(server.port(), "/history").json()["releases"].size(), 0u);
}

}  // namespace
}  // namespace gq::integration
