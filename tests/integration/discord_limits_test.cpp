// Limits from Discord reach the pacing, through the real binary and a fake of GET /gateway/bot
// (discord_support.hpp): the daily budget across a reset, max_concurrency buckets granted
// together, a new max_concurrency picked up on refresh, and what Discord sees of our requests.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "integration/discord_support.hpp"

namespace gq::integration {
namespace {

using namespace discord_support;

// --- the budget across a reset, with concurrency 4 -----------------------------------------------

TEST(discord, done_means_three_grants_before_the_reset_all_eight_after_and_buckets_paced) {
  // Discord: 3 of 10 session starts left, the window resets in 4 s, max_concurrency 4.
  const auto fake_created = std::chrono::steady_clock::now();
  fake_discord fake{{.total = 10, .remaining = 3, .reset_after = 4s, .max_concurrency = 4}};
  const auto reset = fake_created + 4s;          // the fake's reset is at or after this instant
  const long long reset_unix = fake.reset_at();  // the same on the fake's clock (unix ms)
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
  // As the server decided them: three due before the reset, the rest from the reset on, the
  // first of those at the reset (held for the budget, not for a later read of the limits), each
  // bucket's next one interval after its previous (the hold's exact timing: the actor tests'
  // bucket_flow.exhausted_budget_holds_waiters_until_the_reset).
  auto journaled = journaled_grants(server.port());
  ASSERT_EQ(journaled.size(), 8u) << server.output();
  std::string decided = "journaled, ms after the fake's reset:";
  for (const auto& grant : journaled)
    decided += " shard " + std::to_string(grant.shard) + " " +
               std::to_string(grant.released_at - reset_unix);
  const auto due_before_reset = std::count_if(journaled.begin(), journaled.end(),
                                              [&](auto& g) { return g.released_at < reset_unix; });
  EXPECT_EQ(due_before_reset, 3) << decided;
  EXPECT_LT(journaled[3].released_at - reset_unix, 1000) << "held past the reset: " << decided;
  std::map<long long, long long> previous_in_bucket;
  for (const auto& grant : journaled) {
    auto previous = previous_in_bucket.find(grant.bucket);
    if (previous != previous_in_bucket.end()) {
      EXPECT_GE(grant.released_at - previous->second, 1000) << decided;
      EXPECT_LT(grant.released_at - std::max(previous->second + 1000, reset_unix), 1000)
          << "shard " << grant.shard << " was due an interval late: " << decided;
    }
    previous_in_bucket[grant.bucket] = grant.released_at;
  }
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

// --- max_concurrency buckets grant together ------------------------------------------------------

TEST(discord, shards_0_to_3_with_max_concurrency_4_are_granted_together) {
  fake_discord fake{{.total = 1000, .remaining = 1000, .max_concurrency = 4}};
  server_process server({token_env("together-token"), {"DISCORD_API_URL", fake.api_url()}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(wait_for_discord_limits(server, 4)) << status_of(server).dump() << server.output();

  auto clients = start_shards(server.port(), {0, 1, 2, 3}, &fake);
  for (auto& client : clients) {
    ASSERT_TRUE(client->granted()) << "shard " << client->shard() << ": " << client->status();
  }
  // One grant per bucket, each due at its arrival: none waited for another's interval (5 s).
  expect_four_buckets_granted_in_parallel(journaled_grants(server.port()));
}

// --- a new max_concurrency is picked up on refresh -----------------------------------------------

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
  auto grants = journaled_grants(server.port());
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_NE(grants[0].bucket, grants[1].bucket);
  for (const auto& grant : grants) EXPECT_LT(grant.waited_ms, 5000) << "shard " << grant.shard;
  EXPECT_LT(grants[1].released_at - grants[0].released_at, 5000) << "paced as one bucket";
}
// --- what Discord sees ---------------------------------------------------------------------------

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

}  // namespace
}  // namespace gq::integration
