// Discord failing, through the real binary and a fake of GET /gateway/bot (discord_support.hpp):
// 401 at start and later, 429, an outage at start, answers that are not limits, and a restart
// while Discord is down.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "integration/discord_support.hpp"

namespace gq::integration {
namespace {

using namespace discord_support;

// --- 401 at start --------------------------------------------------------------------------------

TEST(discord, unauthorized_at_start_exits_nonzero_saying_the_token_was_rejected) {
  fake_discord fake;
  fake.respond(fake_response::unauthorized());
  const std::string token = "rejected-at-start-token";
  // The deadline only stops a hung test; that the queue stops at the first 401, without a retry
  // or a wait, is the fake's count below (the scheduler's side, on a fake clock:
  // limits_scheduler_flow.rejected_token_at_start_stops_without_retrying).
  auto result = run_to_exit({},
                            {{"DISCORD_TOKEN", token},
                             {"DISCORD_API_URL", fake.api_url()},
                             {"HOST", "127.0.0.1"},
                             {"PORT", std::to_string(free_port())}},
                            60s);
  ASSERT_FALSE(result.timed_out) << "still running after 60 s\n" << result.out << result.err;
  EXPECT_TRUE(result.status.code.has_value()) << result.status.describe();
  EXPECT_FALSE(result.status.exited_with(0)) << result.status.describe();
  const std::string output = lowercase(result.out + result.err);
  EXPECT_TRUE(contains(output, "token") && contains(output, "rejected"))
      << result.out << result.err;
  EXPECT_FALSE(contains(result.out + result.err, token));
  EXPECT_EQ(fake.request_count(), 1u) << "the 401 was retried";
}

// --- 401 after a success -------------------------------------------------------------------------

TEST(discord, unauthorized_later_stops_calls_keeps_serving_and_shows_in_status) {
  fake_discord fake{{.total = 1000, .remaining = 1000, .max_concurrency = 1}};
  server_process server({token_env("revoked-later-token"),
                         {"DISCORD_API_URL", fake.api_url()},
                         {"QUEUE_REFRESH_INTERVAL_S", "1"},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "200"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(wait_for_discord_limits(server, 1));
  EXPECT_EQ(status_of(server)["discord"], "ok");

  fake.respond(fake_response::unauthorized());
  const auto before = fake.request_count();
  ASSERT_TRUE(fake.wait_for_requests(before + 1, 4s)) << "no refresh after 4 s";
  const auto after_401 = fake.request_count();
  // Three refresh intervals (and any backoff) later: not one more call.
  std::this_thread::sleep_for(3500ms);
  EXPECT_EQ(fake.request_count(), after_401) << "the queue kept calling Discord after a 401";

  ASSERT_TRUE(server.alive()) << server.last_exit().describe() << server.output();
  auto status = status_of(server);
  EXPECT_EQ(status["discord"], "token_rejected") << status.dump();
  EXPECT_EQ(status["limits_source"], "discord") << status.dump();
  EXPECT_EQ(status["max_concurrency"], 1) << status.dump();
  EXPECT_EQ(
      metric_of(server,
                "gateway_queue_discord_refreshes_total{bot=\"default\",result=\"unauthorized\"}"),
      1);
  EXPECT_EQ(metric_of(server, "gateway_queue_discord_up{bot=\"default\"}"), 0)
      << "the token was rejected";

  auto clients = start_shards(server.port(), {0}, &fake, 5s);
  EXPECT_TRUE(clients[0]->granted()) << clients[0]->status() << server.output();
  EXPECT_TRUE(contains(lowercase(server.stdout_text() + server.stderr_text()), "401"))
      << server.output();
}

// --- 429 -----------------------------------------------------------------------------------------

TEST(discord, rate_limited_answer_is_waited_out_before_the_next_call) {
  fake_discord fake{{.total = 1000, .remaining = 1000, .max_concurrency = 1}};
  fake.respond_once(fake_response::rate_limited(2.5));
  server_process server({token_env("rate-limited-token"),
                         {"DISCORD_API_URL", fake.api_url()},
                         {"QUEUE_REFRESH_INTERVAL_S", "1"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(fake.wait_for_requests(2, 30s)) << server.output();
  auto requests = fake.requests();
  EXPECT_GE(requests[1].received_at - requests[0].received_at, 2500)
      << "retried " << requests[1].received_at - requests[0].received_at << " ms after a 429";
  // The wait the queue decided is the 429's own retry_after, no more (that it waits exactly
  // that: limits_scheduler_flow.rate_limit_waits_retry_after, on a fake clock).
  EXPECT_TRUE(contains(server.output(), "retrying in 2500 ms")) << server.output();
  EXPECT_TRUE(wait_for_discord_limits(server, 1, 30s));

  // A 429 on a later refresh: 1.5 s, and the scheduled 1 s refresh must not sneak in earlier.
  fake.respond_once(fake_response::rate_limited(1.5));
  const auto count = fake.request_count();
  ASSERT_TRUE(fake.wait_for_requests(count + 2, 6s)) << server.output();
  requests = fake.requests();
  EXPECT_GE(requests[count + 1].received_at - requests[count].received_at, 1500)
      << "retried " << requests[count + 1].received_at - requests[count].received_at
      << " ms after a later 429";
}

// --- Discord down at start -----------------------------------------------------------------------

TEST(discord, outage_at_start_keeps_health_up_and_holds_requests_until_discord_recovers) {
  fake_discord fake{{.total = 1000, .remaining = 1000, .max_concurrency = 1}};
  fake.respond(fake_response::server_error(503));
  server_process server({token_env("outage-token"), {"DISCORD_API_URL", fake.api_url()}});
  ASSERT_TRUE(server.start());  // /health answers although Discord does not
  ASSERT_TRUE(fake.wait_for_requests(1, 3s));

  raw_connection waiter(server.port());
  ASSERT_TRUE(waiter.send_all(request_text(shard_target(0), "Connection: close\r\n")));
  // Held, not answered, while Discord is down; /health stays 200 meanwhile.
  EXPECT_TRUE(waiter.stays_silent(1000ms)) << "answered before limits were known";
  EXPECT_EQ(http_get(server.port(), "/health").status, 200);
  EXPECT_TRUE(waiter.stays_silent(1000ms)) << "answered before limits were known";
  EXPECT_EQ(http_get(server.port(), "/health").status, 200);
  EXPECT_GE(fake.request_count(), 2u) << "no retry during a 2 s outage";
  EXPECT_GE(
      metric_of(server, "gateway_queue_discord_refreshes_total{bot=\"default\",result=\"error\"}"),
      2);
  EXPECT_EQ(metric_of(server, "gateway_queue_discord_up{bot=\"default\"}"), 0)
      << "no read has succeeded";

  const auto recovered = std::chrono::steady_clock::now();
  const auto reads_before = fake.request_count();
  fake.respond(fake_response::limits());
  // The deadline only stops a hung test (two seconds into the outage the backoff is a few
  // seconds); when the next read comes is the backoff's (the backoff tests, and on a fake clock
  // limits_scheduler_flow.outage_at_start_holds_grants_then_rides_it_out).
  auto response = waiter.read_response(60s);
  ASSERT_TRUE(response) << "not granted within 60 s of Discord's recovery\n" << server.output();
  EXPECT_TRUE(is_grant(*response)) << response->status_line << response->body;
  EXPECT_GT(ms_between_exact(recovered, response->first_byte_at), 0.0);
  EXPECT_EQ(fake.request_count(), reads_before + 1) << "granted on the first read that succeeded";
  EXPECT_EQ(status_of(server)["limits_source"], "discord");
  EXPECT_GE(
      metric_of(server, "gateway_queue_discord_refreshes_total{bot=\"default\",result=\"ok\"}"), 1);
  EXPECT_EQ(metric_of(server, "gateway_queue_discord_up{bot=\"default\"}"), 1);
}

// --- answers that are not limits -----------------------------------------------------------------

// Log lines at warn level (text or JSON) that mention `word`.
std::size_t warnings_mentioning(const std::string& log, const std::string& word) {
  std::size_t count = 0;
  std::size_t begin = 0;
  while (begin < log.size()) {
    auto end = log.find('\n', begin);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(begin, end - begin);
    if (contains(line, "warn") && contains(line, word)) ++count;
    begin = end + 1;
  }
  return count;
}

TEST(discord, garbage_missing_fields_and_absurd_values_are_failures_and_the_last_limits_stay) {
  // Two servers at once, each with its own fake: (a) a body that is not JSON, then one without
  // session_start_limit; (b) max_concurrency 0, then remaining > total. After the bad answers the
  // fakes answer 503, so no good answer can arrive between them and the checks.
  struct bad_run {
    std::vector<std::string> bodies;
    std::string named;  // a word the warning about the last bad answer must contain
    std::unique_ptr<fake_discord> fake;
    std::unique_ptr<server_process> server;
    json good;
    std::size_t calls_before = 0;
  };
  std::vector<bad_run> runs(2);
  runs[0].bodies = {"<html>Bad Gateway</html>",
                    R"({"url": "wss://gateway.discord.gg", "shards": 1})"};
  runs[0].named = "session_start_limit";
  runs[1].bodies = {
      R"({"session_start_limit": {"total": 5, "remaining": 5, "reset_after": 1000, "max_concurrency": 0}})",
      R"({"session_start_limit": {"total": 5, "remaining": 50, "reset_after": 1000, "max_concurrency": 3}})"};
  runs[1].named = "remaining";
  for (auto& run : runs) {
    run.fake = std::make_unique<fake_discord>(
        fake_limits{.total = 100, .remaining = 90, .max_concurrency = 2});
    run.server = std::make_unique<server_process>(
        std::initializer_list<env_map::value_type>{token_env("garbage-token"),
                                                   {"DISCORD_API_URL", run.fake->api_url()},
                                                   {"QUEUE_REFRESH_INTERVAL_S", "1"},
                                                   {"QUEUE_IDENTIFY_INTERVAL_MS", "100"}});
    ASSERT_TRUE(run.server->start());
  }
  for (auto& run : runs) {
    ASSERT_TRUE(wait_for_discord_limits(*run.server, 2));
    run.good = status_of(*run.server);
    ASSERT_EQ(run.good["total"], 100) << run.good.dump();
    for (const auto& body : run.bodies) run.fake->respond_once(fake_response::garbage(body));
    run.fake->respond(fake_response::server_error(503));
    run.calls_before = run.fake->request_count();
  }
  for (auto& run : runs) {
    // Next refresh (1 s), the bad answers, and a retry after each (backoff 0.5-1 s, 1-2 s).
    ASSERT_TRUE(run.fake->wait_for_requests(run.calls_before + run.bodies.size() + 1, 8s))
        << run.fake->request_count() - run.calls_before << " calls after the bad answers\n"
        << run.server->output();
  }
  for (auto& run : runs) {
    auto status = status_of(*run.server);
    EXPECT_EQ(status["max_concurrency"], 2) << status.dump();
    EXPECT_EQ(status["total"], 100) << status.dump();
    EXPECT_EQ(status["limits_source"], "discord") << status.dump();
    EXPECT_EQ(status["last_refresh"], run.good["last_refresh"])
        << "a bad answer counted as a refresh: " << status.dump();
    EXPECT_EQ(status["limits_known"], true) << status.dump();

    // The last good limits still grant: two buckets, shards 0 and 1 at once, 5 behind 1.
    auto clients = start_shards(run.server->port(), {0, 1, 5}, run.fake.get(), 5s);
    for (auto& client : clients) {
      EXPECT_TRUE(client->granted())
          << "shard " << client->shard() << ": " << client->status() << run.server->output();
    }
    const std::string log = run.server->stdout_text();
    EXPECT_GE(warnings_mentioning(log, "retry"), run.bodies.size() + 1) << log;
    EXPECT_GE(warnings_mentioning(log, run.named), 1u) << "the bad field is not named\n" << log;
  }
}
// --- restart without Discord ---------------------------------------------------------------------

TEST(discord, restart_with_discord_down_serves_journaled_limits_but_a_fresh_journal_holds) {
  fake_discord fake{{.total = 50, .remaining = 40, .max_concurrency = 2}};
  server_process server({token_env("journal-token"),
                         {"DISCORD_API_URL", fake.api_url()},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "300"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(wait_for_discord_limits(server, 2));
  {
    auto clients = start_shards(server.port(), {0}, &fake, 5s);
    ASSERT_TRUE(clients[0]->granted()) << server.output();
  }
  EXPECT_TRUE(server.stop().exited_with(0)) << server.output();

  // Discord goes down; the restarted queue serves from the journaled window.
  fake.respond(fake_response::server_error(503));
  const auto calls_before_restart = fake.request_count();
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(fake.wait_for_requests(calls_before_restart + 1, 3s)) << "no fetch after restart";
  auto clients = start_shards(server.port(), {1, 2}, &fake, 5s);
  for (auto& client : clients) {
    EXPECT_TRUE(client->granted())
        << "shard " << client->shard() << ": " << client->status() << "\n"
        << server.output();
  }
  auto status = status_of(server);
  EXPECT_EQ(status["limits_source"], "discord") << status.dump();
  EXPECT_EQ(status["max_concurrency"], 2) << status.dump();
  EXPECT_EQ(status["total"], 50) << status.dump();
  EXPECT_LE(status["remaining"].get<long long>(), 37) << status.dump();
  server.kill9();

  // A fresh journal and Discord down: nothing is known, the request is held.
  server_process fresh({token_env("journal-token"), {"DISCORD_API_URL", fake.api_url()}});
  ASSERT_TRUE(fresh.start());
  raw_connection waiter(fresh.port());
  ASSERT_TRUE(waiter.send_all(request_text(shard_target(1), "Connection: close\r\n")));
  EXPECT_TRUE(waiter.stays_silent(2000ms)) << "granted without any known limits";
  status = status_of(fresh);
  EXPECT_EQ(status["waiting"], 1) << status.dump();
  EXPECT_FALSE(status["limits_known"].get<bool>()) << status.dump();
  EXPECT_TRUE(status["last_refresh"].is_null()) << status.dump();
}

}  // namespace
}  // namespace gq::integration
