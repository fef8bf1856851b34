// Limits from Discord, through the real binary and a scripted fake of GET /gateway/bot
// (tests/support/fake_discord.hpp). The contract: docs/HTTP_API.md and docs/DESIGN.md (pacing and
// the daily budget) and docs/CONFIGURATION.md ("Secrets").
//
// The fake models Discord's side of the daily budget: every client here that receives a 200
// calls fake.identify(), as a shard would, so Discord's `remaining` falls; it refills at reset.
// Timing: strict lower bounds (what the contract promises), generous upper bounds (CI machines).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "support/fake_discord.hpp"

namespace gq::integration {
namespace {

using gq::testing::fake_discord;
using gq::testing::fake_limits;
using gq::testing::fake_response;
using json = nlohmann::json;

constexpr const char* k_granted_message = "You're free to connect now! :)";

std::string shard_target(long long shard) { return "/?shard=" + std::to_string(shard); }

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// GET /status as JSON (an empty object when it does not answer 200 with a JSON object).
json status_of(const server_process& server) {
  auto reply = http_get(server.port(), "/status");
  auto body = reply.json();
  if (reply.status != 200 || !body.is_object()) return json::object();
  return body;
}

// Polls `condition` every 20 ms until it holds (true) or `timeout` passes (false).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// One series of GET /metrics (name with labels, as printed); -1 when absent.
double metric_of(const server_process& server, const std::string& series) {
  const auto text = http_get(server.port(), "/metrics").body;
  const auto at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

// True once /status says a fetch from Discord succeeded and max_concurrency is `expected`.
bool wait_for_discord_limits(const server_process& server, long long expected_max_concurrency,
                             std::chrono::milliseconds timeout = 5s) {
  return eventually(
      [&] {
        auto status = status_of(server);
        return status.is_object() && status.contains("last_refresh") &&
               !status["last_refresh"].is_null() && status["max_concurrency"].is_number() &&
               status["max_concurrency"].get<long long>() == expected_max_concurrency;
      },
      timeout);
}

bool is_grant(const raw_response& response) {
  auto body = response.json();
  return response.status == 200 && body.is_object() && body.contains("message") &&
         body["message"] == k_granted_message;
}

// A shard as a bot runs it: asks the queue on a connection of its own (a thread waits for the
// answer) and, when granted, identifies with Discord (the fake) at once.
class shard_client {
 public:
  shard_client(std::uint16_t port, long long shard, fake_discord* discord,
               std::chrono::milliseconds timeout = 20s)
      : shard_(shard), connection_(port) {
    sent_at_ = std::chrono::steady_clock::now();
    if (!connection_.connected() ||
        !connection_.send_all(request_text(shard_target(shard), "Connection: close\r\n"))) {
      finished_ = true;
      return;
    }
    reader_ = std::thread([this, discord, timeout] {
      auto response = connection_.read_response(timeout);
      if (response && is_grant(*response) && discord != nullptr) {
        identified_ = discord->identify();
      }
      std::lock_guard lock{mutex_};
      response_ = std::move(response);
      finished_ = true;
    });
  }
  ~shard_client() {
    connection_.hang_up();
    if (reader_.joinable()) reader_.join();
  }
  shard_client(const shard_client&) = delete;
  shard_client& operator=(const shard_client&) = delete;

  void join() {
    if (reader_.joinable()) reader_.join();
  }
  bool finished() const { return finished_; }
  bool granted() {
    join();
    return response_ && is_grant(*response_);
  }
  int status() {
    join();
    return response_ ? response_->status : 0;
  }
  // When the kernel received the grant's first byte: on loopback, when the server sent it. Not
  // the time this thread read it, which adds the client's own scheduling delay (eight reader
  // threads on two cores) and can make two grants of a bucket look closer than they were sent.
  steady_time granted_at() {
    join();
    return response_ ? response_->arrived_at : steady_time{};
  }
  bool identified() {
    join();
    return identified_;
  }
  long long shard() const { return shard_; }
  steady_time sent_at() const { return sent_at_; }

 private:
  long long shard_;
  raw_connection connection_;
  steady_time sent_at_{};
  std::thread reader_;
  std::mutex mutex_;
  std::optional<raw_response> response_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> identified_{false};
};

using shard_clients = std::vector<std::unique_ptr<shard_client>>;

shard_clients start_shards(std::uint16_t port, const std::vector<long long>& shards,
                           fake_discord* discord, std::chrono::milliseconds timeout = 20s) {
  shard_clients clients;
  for (long long shard : shards)
    clients.push_back(std::make_unique<shard_client>(port, shard, discord, timeout));
  return clients;
}

env_map::value_type token_env(const std::string& token) { return {"DISCORD_TOKEN", token}; }

// --- 1. the budget across a reset, with concurrency 4 ----------------------------------------------------

TEST(discord, done_means_three_grants_before_the_reset_all_eight_after_and_buckets_paced) {
  // Discord: 3 of 10 session starts left, the window resets in 4 s, max_concurrency 4.
  const auto fake_created = std::chrono::steady_clock::now();
  fake_discord fake{{.total = 10, .remaining = 3, .reset_after = 4s, .max_concurrency = 4}};
  const auto reset = fake_created + 4s;  // the fake's reset is at or after this instant
  server_process server({token_env("done-means-token"),
                         {"DISCORD_API_URL", fake.api_url()},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "1000"}});
  ASSERT_TRUE(server.start());

  std::vector<long long> shards{0, 1, 2, 3, 4, 5, 6, 7};
  auto clients = start_shards(server.port(), shards, &fake);
  for (auto& client : clients) client->join();

  std::vector<std::pair<steady_time, long long>> grants;  // (received at, shard)
  for (auto& client : clients) {
    EXPECT_TRUE(client->granted())
        << "shard " << client->shard() << " got status " << client->status();
    if (client->granted()) grants.emplace_back(client->granted_at(), client->shard());
  }
  ASSERT_EQ(grants.size(), 8u) << server.output();
  std::sort(grants.begin(), grants.end());

  std::string timeline = "grants, ms after the fake started (reset at 4000):";
  for (const auto& [at, shard] : grants)
    timeline +=
        " shard " + std::to_string(shard) + " +" + std::to_string(ms_between(fake_created, at));
  // Exactly three before the reset: Discord had three left.
  const auto before_reset =
      std::count_if(grants.begin(), grants.end(), [&](const auto& g) { return g.first < reset; });
  EXPECT_EQ(before_reset, 3) << timeline << "\n" << server.output();
  // The rest came with the new window: all eight by about 6-7 s after the fake started.
  EXPECT_LT(ms_between(fake_created, grants.back().first), 7500) << server.output();
  // Discord never saw an identify over its limit (it would have reset the token).
  EXPECT_EQ(fake.overdrafts(), 0u) << "identifies beyond Discord's remaining";
  for (auto& client : clients) {
    EXPECT_TRUE(client->identified()) << "Discord refused shard " << client->shard();
  }

  // Within a bucket (shard % 4), grants are at least the interval apart.
  std::map<long long, std::vector<steady_time>> by_bucket;
  for (const auto& [at, shard] : grants) by_bucket[shard % 4].push_back(at);
  for (const auto& [bucket, times] : by_bucket) {
    for (std::size_t i = 1; i < times.size(); ++i) {
      EXPECT_GE(ms_between_exact(times[i - 1], times[i]), 1000.0)
          << "bucket " << bucket << ", grants " << i - 1 << " and " << i;
    }
  }
}

// --- 2. max_concurrency buckets grant together ------------------------------------------------

TEST(discord, shards_0_to_3_with_max_concurrency_4_are_granted_together) {
  fake_discord fake{{.total = 1000, .remaining = 1000, .max_concurrency = 4}};
  server_process server({token_env("together-token"), {"DISCORD_API_URL", fake.api_url()}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(wait_for_discord_limits(server, 4)) << status_of(server).dump() << server.output();

  auto clients = start_shards(server.port(), {0, 1, 2, 3}, &fake);
  std::vector<steady_time> times;
  for (auto& client : clients) {
    ASSERT_TRUE(client->granted()) << "shard " << client->shard() << ": " << client->status();
    times.push_back(client->granted_at());
  }
  const auto [first, last] = std::minmax_element(times.begin(), times.end());
  EXPECT_LT(ms_between_exact(*first, *last), 150.0);
  EXPECT_LT(ms_between_exact(clients.front()->sent_at(), *last), 1000.0);
}

// --- 3. a new max_concurrency is picked up on refresh -----------------------------------------

TEST(discord, raised_max_concurrency_is_picked_up_on_refresh) {
  fake_discord fake{{.total = 1000, .remaining = 1000, .max_concurrency = 1}};
  server_process server({token_env("raise-token"),
                         {"DISCORD_API_URL", fake.api_url()},
                         {"QUEUE_REFRESH_INTERVAL_S", "1"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(wait_for_discord_limits(server, 1)) << status_of(server).dump();

  fake.set_max_concurrency(2);
  ASSERT_TRUE(wait_for_discord_limits(server, 2, 4s))
      << "/status after the raise: " << status_of(server).dump() << server.output();
  auto status = status_of(server);
  EXPECT_EQ(status["limits_source"], "discord");
  EXPECT_EQ(status["buckets"].size(), 2u) << status.dump();

  // Two buckets now: shards 0 and 1 do not wait the default 5 s for each other.
  auto clients = start_shards(server.port(), {0, 1}, &fake);
  ASSERT_TRUE(clients[0]->granted()) << clients[0]->status();
  ASSERT_TRUE(clients[1]->granted()) << clients[1]->status();
  EXPECT_LT(std::abs(ms_between_exact(clients[0]->granted_at(), clients[1]->granted_at())), 150.0);
}

// --- 4. 401 at start ------------------------------------------------------------------------

TEST(discord, unauthorized_at_start_exits_nonzero_saying_the_token_was_rejected) {
  fake_discord fake;
  fake.respond(fake_response::unauthorized());
  const std::string token = "rejected-at-start-token";
  const auto started = std::chrono::steady_clock::now();
  auto result = run_to_exit({},
                            {{"DISCORD_TOKEN", token},
                             {"DISCORD_API_URL", fake.api_url()},
                             {"HOST", "127.0.0.1"},
                             {"PORT", std::to_string(free_port())}},
                            10s);
  const auto took = ms_between(started, std::chrono::steady_clock::now());
  ASSERT_FALSE(result.timed_out) << "still running after 10 s\n" << result.out << result.err;
  EXPECT_LT(took, 5000);
  EXPECT_TRUE(result.status.code.has_value()) << result.status.describe();
  EXPECT_FALSE(result.status.exited_with(0)) << result.status.describe();
  const std::string output = lowercase(result.out + result.err);
  EXPECT_TRUE(contains(output, "token") && contains(output, "rejected"))
      << result.out << result.err;
  EXPECT_FALSE(contains(result.out + result.err, token));
  EXPECT_GE(fake.request_count(), 1u);
  EXPECT_LE(fake.request_count(), 3u);
}

// --- 5. 401 after a success -----------------------------------------------------------------

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
  EXPECT_EQ(metric_of(server, "gateway_queue_discord_refreshes_total{result=\"unauthorized\"}"), 1);
  EXPECT_EQ(metric_of(server, "gateway_queue_discord_up"), 0) << "the token was rejected";

  auto clients = start_shards(server.port(), {0}, &fake, 5s);
  EXPECT_TRUE(clients[0]->granted()) << clients[0]->status() << server.output();
  EXPECT_TRUE(contains(lowercase(server.stdout_text() + server.stderr_text()), "401"))
      << server.output();
}

// --- 6. 429 ---------------------------------------------------------------------------------

TEST(discord, rate_limited_answer_is_waited_out_before_the_next_call) {
  fake_discord fake{{.total = 1000, .remaining = 1000, .max_concurrency = 1}};
  fake.respond_once(fake_response::rate_limited(2.5));
  server_process server({token_env("rate-limited-token"),
                         {"DISCORD_API_URL", fake.api_url()},
                         {"QUEUE_REFRESH_INTERVAL_S", "1"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(fake.wait_for_requests(2, 6s)) << server.output();
  auto requests = fake.requests();
  EXPECT_GE(requests[1].received_at - requests[0].received_at, 2500)
      << "retried " << requests[1].received_at - requests[0].received_at << " ms after a 429";
  EXPECT_LT(requests[1].received_at - requests[0].received_at, 4500);
  EXPECT_TRUE(wait_for_discord_limits(server, 1, 2s));

  // A 429 on a later refresh: 1.5 s, and the scheduled 1 s refresh must not sneak in earlier.
  fake.respond_once(fake_response::rate_limited(1.5));
  const auto count = fake.request_count();
  ASSERT_TRUE(fake.wait_for_requests(count + 2, 6s)) << server.output();
  requests = fake.requests();
  EXPECT_GE(requests[count + 1].received_at - requests[count].received_at, 1500)
      << "retried " << requests[count + 1].received_at - requests[count].received_at
      << " ms after a later 429";
}

// --- 7. Discord down at start ---------------------------------------------------------------

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
  EXPECT_GE(metric_of(server, "gateway_queue_discord_refreshes_total{result=\"error\"}"), 2);
  EXPECT_EQ(metric_of(server, "gateway_queue_discord_up"), 0) << "no read has succeeded";

  const auto recovered = std::chrono::steady_clock::now();
  fake.respond(fake_response::limits());
  auto response = waiter.read_response(10s);
  ASSERT_TRUE(response) << "not granted within 10 s of Discord's recovery\n" << server.output();
  EXPECT_TRUE(is_grant(*response)) << response->status_line << response->body;
  EXPECT_GT(ms_between_exact(recovered, response->first_byte_at), 0.0);
  EXPECT_LT(ms_between(recovered, response->first_byte_at), 8000);
  EXPECT_EQ(status_of(server)["limits_source"], "discord");
  EXPECT_GE(metric_of(server, "gateway_queue_discord_refreshes_total{result=\"ok\"}"), 1);
  EXPECT_EQ(metric_of(server, "gateway_queue_discord_up"), 1);
}

// --- 8. answers that are not limits ---------------------------------------------------------

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

// --- 9. what Discord sees -------------------------------------------------------------------

TEST(discord, requests_carry_bot_authorization_and_a_discordbot_user_agent) {
  fake_discord fake;
  const std::string token = "MTk4NjIy.header-check_token";
  server_process server({token_env(token), {"DISCORD_API_URL", fake.api_url()}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(fake.wait_for_requests(1, 3s));
  const auto request = fake.requests().front();
  EXPECT_EQ(request.path, "/api/v10/gateway/bot");
  EXPECT_EQ(request.authorization, "Bot " + token);
  EXPECT_EQ(request.user_agent.rfind("DiscordBot (", 0), 0u) << request.user_agent;
}

// --- 10. the token stays secret ------------------------------------------------------------

struct secrecy_run {
  std::string token;
  std::unique_ptr<fake_discord> fake;
  std::unique_ptr<server_process> server;
};

std::string file_bytes(const std::string& path) {
  return std::filesystem::exists(path) ? read_text_file(path) : std::string{};
}

TEST(discord, token_never_appears_in_logs_endpoints_or_journal_across_faults) {
  // Two servers at once (text and JSON logs, both at debug), each with its own fake Discord
  // that answers: OK, garbage and a 503 that both echo the token, a 429, a body whose field is
  // the token, OK again, and finally 401.
  std::vector<secrecy_run> runs;
  for (const char* format : {"text", "json"}) {
    secrecy_run run;
    run.token = std::string("sEcReT-") + format + "-Tok3n.zz_9";
    run.fake = std::make_unique<fake_discord>(
        fake_limits{.total = 1000, .remaining = 1000, .max_concurrency = 2});
    auto& fake = *run.fake;
    fake.respond_once(fake_response::limits());
    fake.respond_once(fake_response::garbage("<html>" + run.token + "</html>"));
    fake.respond_once(fake_response::raw(503, R"({"message": "bad Bot )" + run.token + R"("})"));
    fake.respond_once(fake_response::rate_limited(0.3));
    fake.respond_once(
        fake_response::garbage(R"({"session_start_limit": {"total": ")" + run.token + R"("}})"));
    fake.respond_once(fake_response::limits());
    fake.respond(fake_response::unauthorized());
    run.server = std::make_unique<server_process>(
        std::initializer_list<env_map::value_type>{token_env(run.token),
                                                   {"DISCORD_API_URL", fake.api_url()},
                                                   {"QUEUE_REFRESH_INTERVAL_S", "1"},
                                                   {"QUEUE_IDENTIFY_INTERVAL_MS", "100"},
                                                   {"QUEUE_LOG_LEVEL", "debug"},
                                                   {"QUEUE_LOG_FORMAT", format}});
    runs.push_back(std::move(run));
  }
  for (auto& run : runs) ASSERT_TRUE(run.server->start());
  for (auto& run : runs) {
    auto clients = start_shards(run.server->port(), {0, 1, 2}, run.fake.get(), 10s);
    for (auto& client : clients) EXPECT_TRUE(client->granted()) << run.server->output();
  }
  // All seven answers given (the 401 is the seventh call), the queue still up.
  for (auto& run : runs) {
    EXPECT_TRUE(run.fake->wait_for_requests(7, 15s)) << run.fake->request_count() << " calls\n"
                                                     << run.server->output();
  }
  for (auto& run : runs) {
    ASSERT_TRUE(
        eventually([&] { return status_of(*run.server)["discord"] == "token_rejected"; }, 3s))
        << status_of(*run.server).dump();
    auto clients = start_shards(run.server->port(), {3}, run.fake.get(), 5s);
    EXPECT_TRUE(clients[0]->granted()) << run.server->output();

    const auto& token = run.token;
    const auto server_port = run.server->port();
    for (const char* target : {"/status", "/metrics", "/history", "/history?limit=10000"}) {
      auto reply = http_get(server_port, target);
      EXPECT_EQ(reply.status, 200) << target;
      EXPECT_FALSE(contains(reply.body, token)) << target << ": " << reply.body;
    }
    const std::string db = run.server->db_path();
    for (const std::string& path : {db, db + "-wal", db + "-shm", db + "-journal"}) {
      EXPECT_FALSE(contains(file_bytes(path), token)) << path << " (server running)";
    }
  }
  for (auto& run : runs) {
    run.server->stop();
    const auto& token = run.token;
    const std::string logs = run.server->stdout_text() + run.server->stderr_text();
    EXPECT_FALSE(contains(logs, token)) << logs;
    EXPECT_TRUE(contains(logs, "[redacted]") || !contains(logs, "bad Bot"))
        << "Discord's message echoing the token was logged unredacted\n"
        << logs;
    EXPECT_FALSE(logs.empty());
    const std::string db = run.server->db_path();
    for (const std::string& path : {db, db + "-wal", db + "-shm", db + "-journal"}) {
      EXPECT_FALSE(contains(file_bytes(path), token)) << path << " (after stop)";
    }
    // Whatever else sits in the server's directory (its working directory) is clean too.
    for (const auto& entry : std::filesystem::directory_iterator(run.server->dir())) {
      if (!entry.is_regular_file()) continue;
      EXPECT_FALSE(contains(file_bytes(entry.path().string()), token)) << entry.path();
    }
  }
}

// --- 11. restart without Discord -----------------------------------------------------------

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
