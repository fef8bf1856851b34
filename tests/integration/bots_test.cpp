// Several bots in one queue through the real binary (QUEUE_BOTS_FILE): each bot's token reaches
// its bot alone, and one bot's flood, exhausted budget or removal never touches another's grants.
// The contract: docs/HTTP_API.md, "Several bots".

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "integration/bots_support.hpp"
#include "integration/clients.hpp"
#include "integration/queue_api_checks.hpp"
#include "integration/server_process.hpp"
#include "support/fake_discord.hpp"
#include "support/postgres_server.hpp"

namespace gq::integration {
namespace {

using namespace queue_api_checks;

const bot_spec music{"music", "identify_interval_ms = 2000\n"};
const bot_spec logger{"logger", "identify_interval_ms = 2000\n"};

TEST(bots, a_bots_token_queues_reads_and_spends_for_its_own_bot_alone) {
  server_process server({{"QUEUE_AUTH_TOKEN", k_operator_token}});
  serve_bots(server, {music, logger});
  ASSERT_TRUE(server.start());
  const auto port = server.port();
  const auto mine = bearer(token_of(music));
  EXPECT_EQ(http_get(port, "/?shard=0", mine).status, 200);
  for (const auto* target : {"/?shard=0&bot=logger", "/bots/logger/?shard=0", "/status?bot=logger",
                             "/history?bot=logger", "/metrics?bot=logger"}) {
    EXPECT_EQ(http_get(port, target, mine).status, 403) << target;
  }
  EXPECT_EQ(http_get(port, "/bots/nobody/?shard=0", operator_headers()).status, 404);
  EXPECT_EQ(http_get(port, "/?shard=0").status, 401) << "no token, and an operator token is set";
  EXPECT_EQ(http_get(port, "/?shard=0", operator_headers()).status, 400) << "no default bot";

  // What the music bot's token sees: its bot, never the other's.
  auto status = http_get(port, "/status", mine).json();
  EXPECT_EQ(status.value("bot", ""), "music") << status.dump();
  EXPECT_FALSE(status.contains("bots"));
  EXPECT_EQ(status.value("grants_total", -1), 1);
  const auto metrics = http_get(port, "/metrics", mine).body;
  EXPECT_NE(metrics.find("bot=\"music\""), std::string::npos);
  EXPECT_EQ(metrics.find("logger"), std::string::npos);
  EXPECT_EQ(metrics.find("gateway_queue_connections"), std::string::npos) << "queue-wide";
  const auto history = http_get(port, "/history", mine).json();
  ASSERT_EQ(history["releases"].size(), 1u) << history.dump();
  EXPECT_EQ(history["releases"][0]["bot"], "music");
  EXPECT_TRUE(grants_of(server, logger).empty());

  // The operator sees every bot.
  auto overview = http_get(port, "/status", operator_headers()).json();
  EXPECT_EQ(overview["bots"], nlohmann::json({"logger", "music"})) << overview.dump();
  const auto all = http_get(port, "/metrics", operator_headers()).body;
  EXPECT_NE(all.find("bot=\"logger\""), std::string::npos);
  EXPECT_NE(all.find("gateway_queue_connections"), std::string::npos);
}

TEST(bots, one_bots_flood_and_exhausted_budget_never_delay_another) {
  server_process server;
  const auto busy = open_bot("busy",
                             "identify_interval_ms = 1000\ndaily_limit = 2\n"
                             "on_exhausted = \"reject\"\nreserve = 0\n");
  const auto calm = open_bot("calm", "identify_interval_ms = 1000\n");
  serve_bots(server, {busy, calm});
  ASSERT_TRUE(server.start());
  // Three of busy's shard 0 at once: two granted an interval apart, the third over its budget.
  auto flood = fire_concurrently(server.port(), std::vector<std::string>(3, "/bots/busy/?shard=0"));
  ASSERT_TRUE(wait_for_bot_waiting(server.port(), "busy", 2));
  // Meanwhile calm's shard 0: granted at once, not behind busy's interval.
  EXPECT_EQ(http_get(server.port(), "/?shard=0&bot=calm").status, 200);
  std::vector<int> statuses;
  for (auto& request : flood) statuses.push_back(request->get() ? request->get()->status : 0);
  std::sort(statuses.begin(), statuses.end());
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 429}));
  const auto calm_grants = grants_of_open(server, "calm");
  ASSERT_EQ(calm_grants.size(), 1u);
  EXPECT_LT(calm_grants[0].waited_ms, 1000) << "calm waited for busy's interval";
  const auto busy_grants = grants_of_open(server, "busy");
  ASSERT_EQ(busy_grants.size(), 2u);
  EXPECT_GE(busy_grants[1].released_at - busy_grants[0].released_at, 1000);
  EXPECT_LT(calm_grants[0].released_at, busy_grants[1].released_at);
}

TEST(bots, a_full_bot_refuses_its_own_waiters_only) {
  server_process server({{"QUEUE_MAX_WAITING", "2"}});
  serve_bots(server, {open_bot("slow", "identify_interval_ms = 60000\n"),
                      open_bot("music", "identify_interval_ms = 60000\n")});
  ASSERT_TRUE(server.start());
  const auto port = server.port();
  EXPECT_EQ(http_get(port, "/bots/slow/?shard=0").status, 200);  // an idle bucket: at once
  pending_request second(port, "/bots/slow/?shard=0");
  pending_request third(port, "/bots/slow/?shard=0");
  ASSERT_TRUE(wait_for_bot_waiting(port, "slow", 2));
  EXPECT_EQ(http_get(port, "/bots/slow/?shard=0").status, 503) << "slow holds QUEUE_MAX_WAITING";
  EXPECT_EQ(http_get(port, "/bots/music/?shard=0").status, 200) << "music is not full";
}

TEST(bots, a_reload_adds_and_removes_bots_and_leaves_the_others_timing_alone) {
  server_process server;
  const auto steady = open_bot("steady", "identify_interval_ms = 3000\n");
  const auto leaving = open_bot("leaving", "identify_interval_ms = 60000\n");
  serve_bots(server, {steady, leaving});
  ASSERT_TRUE(server.start());
  const auto port = server.port();
  EXPECT_EQ(http_get(port, "/bots/steady/?shard=0").status, 200);
  EXPECT_EQ(http_get(port, "/bots/leaving/?shard=0").status, 200);
  pending_request steady_next(port, "/bots/steady/?shard=0");
  pending_request leaving_next(port, "/bots/leaving/?shard=0");
  ASSERT_TRUE(wait_for_bot_waiting(port, "leaving", 1));
  ASSERT_TRUE(wait_for_bot_waiting(port, "steady", 1));

  const auto added = open_bot("added", "identify_interval_ms = 3000\n");
  ASSERT_TRUE(reload(server, {steady, added})) << server.output();
  const auto& removed = leaving_next.get();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->status, 503) << "a removed bot's waiter";
  EXPECT_EQ(http_get(port, "/bots/added/?shard=5").status, 200);
  EXPECT_EQ(http_get(port, "/bots/leaving/?shard=0").status, 404);

  // A bad file changes nothing.
  std::ofstream(server.dir() + "/bots.toml", std::ios::trunc) << "[[bot]]\nname = \"Bad Name\"\n";
  ASSERT_TRUE(signal_reload(server, "the bots file was not applied")) << server.output();
  EXPECT_EQ(http_get(port, "/bots/added/?shard=6").status, 200);

  // steady's waiter kept its place and its timing: one interval after its first grant.
  const auto& kept = steady_next.get();
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->status, 200);
  const auto grants = grants_of_open(server, "steady");
  ASSERT_EQ(grants.size(), 2u);
  // Its interval runs from the moment the first 200 left, a moment after it was due; a bot
  // restarted by the reload would have answered the waiter 503 and paced it anew.
  EXPECT_GE(grants[1].released_at - grants[0].released_at, 3000);
  EXPECT_LT(grants[1].released_at - grants[0].released_at, 4000) << "the reload moved it";
}

TEST(bots, after_kill9_each_bot_resumes_its_own_spacing_and_budget) {
  server_process server;
  const bot_spec one{"one", "identify_interval_ms = 3000\ndaily_limit = 5\n"};
  const bot_spec two{"two", "identify_interval_ms = 3000\ndaily_limit = 7\n"};
  serve_bots(server, {one, two});
  ASSERT_TRUE(server.start());
  EXPECT_EQ(http_get(server.port(), "/?shard=0", bearer(token_of(one))).status, 200);
  server.kill9();
  ASSERT_TRUE(server.start());
  EXPECT_EQ(http_get(server.port(), "/?shard=0", bearer(token_of(one))).status, 200);
  EXPECT_EQ(http_get(server.port(), "/?shard=0", bearer(token_of(two))).status, 200);
  const auto ones = grants_of(server, one);
  ASSERT_EQ(ones.size(), 2u);
  EXPECT_GE(ones[1].released_at - ones[0].released_at, 3000) << "one's spacing survived kill -9";
  const auto twos = grants_of(server, two);
  ASSERT_EQ(twos.size(), 1u);
  EXPECT_LT(twos[0].waited_ms, 3000) << "two never granted before: it waits for nobody";
  auto one_status = http_get(server.port(), "/status", bearer(token_of(one))).json();
  EXPECT_EQ(one_status.value("remaining", -1), 3) << one_status.dump();
  auto two_status = http_get(server.port(), "/status", bearer(token_of(two))).json();
  EXPECT_EQ(two_status.value("remaining", -1), 6) << two_status.dump();
}

TEST(bots, a_bot_whose_discord_token_is_rejected_stops_alone) {
  gq::testing::fake_discord discord;
  discord.set_expected_token("good-discord-token");
  server_process server({{"DISCORD_API_URL", discord.api_url()}});
  std::ofstream(server.dir() + "/good.discord") << "good-discord-token\n";
  std::ofstream(server.dir() + "/revoked.discord") << "revoked-discord-token\n";
  serve_bots(server, {open_bot("good", "discord_token_file = \"good.discord\"\n"),
                      open_bot("revoked", "discord_token_file = \"revoked.discord\"\n")});
  ASSERT_TRUE(server.start());
  // The good bot is granted on Discord's limits; the process did not stop for the other's 401.
  const auto granted = http_get(server.port(), "/bots/good/?shard=0");
  EXPECT_EQ(granted.status, 200) << server.output();
  auto revoked = http_get(server.port(), "/status?bot=revoked").json();
  EXPECT_FALSE(revoked.value("limits_known", true)) << revoked.dump();
  auto good = http_get(server.port(), "/status?bot=good").json();
  EXPECT_EQ(good.value("limits_source", ""), "discord") << good.dump();
  // The rejection is the revoked bot's own: logged for it, the process goes on serving.
  const std::string rejected = "bot revoked: Discord rejected the token";
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count_of(server.stdout_text() + server.stderr_text(), rejected) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  const auto log = server.stdout_text() + server.stderr_text();
  EXPECT_NE(log.find(rejected), std::string::npos) << server.output();
  EXPECT_EQ(log.find("revoked-discord-token"), std::string::npos) << "never the token";
  EXPECT_EQ(http_get(server.port(), "/health").status, 200);
  EXPECT_TRUE(server.alive());
}

TEST(bots, a_reload_changes_a_bots_limits_and_buckets_and_its_waiter_keeps_its_place) {
  server_process server;
  serve_bots(server, {open_bot("tuned", "identify_interval_ms = 3000\ndaily_limit = 10\n")});
  ASSERT_TRUE(server.start());
  const auto port = server.port();
  EXPECT_EQ(http_get(port, "/bots/tuned/?shard=0").status, 200);
  pending_request waiter(port, "/bots/tuned/?shard=2");  // bucket 0 of 1, behind the interval
  ASSERT_TRUE(wait_for_bot_waiting(port, "tuned", 1));
  ASSERT_TRUE(reload(server, {open_bot("tuned",
                                       "identify_interval_ms = 3000\ndaily_limit = 20\n"
                                       "max_concurrency = 2\n")}))
      << server.output();
  // Re-bucketed to two, the waiter still waiting in its new bucket; the budget follows the new
  // daily limit, the window's grant still counted.
  nlohmann::json status;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  do {
    status = http_get(port, "/status?bot=tuned").json();
  } while (status.value("max_concurrency", 0) != 2 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(status.value("max_concurrency", 0), 2) << status.dump();
  EXPECT_EQ(status.value("total", 0), 20) << status.dump();
  EXPECT_EQ(status.value("remaining", 0), 19) << status.dump();
  EXPECT_EQ(status.value("waiting", 0), 1) << status.dump();
  // Granted no sooner than an interval after the last grant of the old buckets.
  const auto& answer = waiter.get();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);
  const auto grants = grants_of_open(server, "tuned");
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_GE(grants[1].released_at - grants[0].released_at, 3000);
}

// Two queues on one PostgreSQL journal serving two bots: the standby knows the bots (its 503s
// name no bot as unknown), and after the active is killed each bot resumes its own spacing.
TEST(bots, a_standby_takes_over_every_bot_with_its_spacing) {
  gq::testing::postgres_server postgres;
  const std::string uri = postgres.uri(postgres.create_database());
  const std::vector<bot_spec> bots{open_bot("one", "identify_interval_ms = 2000\n"),
                                   open_bot("two", "identify_interval_ms = 2000\n")};
  server_process first({{"QUEUE_DB", uri}});
  serve_bots(first, bots);
  ASSERT_TRUE(first.start()) << first.output();
  ASSERT_EQ(http_get(first.port(), "/bots/one/?shard=0").status, 200);
  ASSERT_EQ(http_get(first.port(), "/bots/two/?shard=0").status, 200);
  server_process second({{"QUEUE_DB", uri}});
  serve_bots(second, bots);
  ASSERT_TRUE(second.start()) << second.output();
  const auto standby = http_get(second.port(), "/bots/two/?shard=0");
  EXPECT_EQ(standby.status, 503) << standby.body;
  EXPECT_NE(standby.body.find("standby"), std::string::npos) << standby.body;

  first.kill9();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (http_get(second.port(), "/ready").status != 200 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(http_get(second.port(), "/bots/one/?shard=0").status, 200) << second.output();
  ASSERT_EQ(http_get(second.port(), "/bots/two/?shard=0").status, 200) << second.output();
  for (const auto* bot : {"one", "two"}) {
    const auto grants = grants_of_open(second, bot);
    ASSERT_EQ(grants.size(), 2u) << bot;
    EXPECT_GE(grants[1].released_at - grants[0].released_at, 2000) << bot << "'s spacing";
  }
}

}  // namespace
}  // namespace gq::integration
