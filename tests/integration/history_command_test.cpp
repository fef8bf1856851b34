// `gateway-queue history` through the real binary, on the journal of a queue serving two bots:
// every row names its bot, and --bot keeps one bot's rows.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "integration/bots_support.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

// The bot of each printed row, newest first.
std::vector<std::string> bots_of(const run_result& run) {
  std::vector<std::string> bots;
  auto body = nlohmann::json::parse(run.out, nullptr, false);
  if (!body.is_object() || !body["releases"].is_array()) return bots;
  for (const auto& row : body["releases"]) bots.push_back(row.value("bot", "?"));
  return bots;
}

TEST(history, rows_name_their_bot_and_bot_keeps_one_bots_rows) {
  server_process server;
  serve_bots(server, {open_bot("alpha", "max_concurrency = 2\n"), open_bot("beta", "")});
  ASSERT_TRUE(server.start());
  ASSERT_EQ(http_get(server.port(), "/?shard=0&bot=alpha").status, 200);
  ASSERT_EQ(http_get(server.port(), "/bots/alpha/?shard=1").status, 200);
  ASSERT_EQ(http_get(server.port(), "/?shard=0&bot=beta").status, 200);
  const env_map journal{{"QUEUE_DB", server.db_path()}};

  const auto every = run_to_exit({"history"}, journal);
  ASSERT_TRUE(every.status.exited_with(0)) << every.status.describe() << every.err;
  const auto all_bots = bots_of(every);
  EXPECT_EQ(all_bots.size(), 3u) << every.out;
  EXPECT_EQ(std::multiset<std::string>(all_bots.begin(), all_bots.end()),
            (std::multiset<std::string>{"alpha", "alpha", "beta"}));

  const auto alpha = run_to_exit({"history", "--bot", "alpha"}, journal);
  ASSERT_TRUE(alpha.status.exited_with(0)) << alpha.status.describe() << alpha.err;
  EXPECT_EQ(bots_of(alpha), (std::vector<std::string>{"alpha", "alpha"})) << alpha.out;
  const auto beta = run_to_exit({"history", "--bot", "beta", "--shard", "0"}, journal);
  EXPECT_EQ(bots_of(beta), (std::vector<std::string>{"beta"})) << beta.out;
  // A name no bot has: no rows (the journal keeps removed bots' rows; no file says who exists).
  const auto none = run_to_exit({"history", "--bot", "gamma"}, journal);
  ASSERT_TRUE(none.status.exited_with(0)) << none.err;
  EXPECT_TRUE(bots_of(none).empty()) << none.out;

  const auto bad = run_to_exit({"history", "--bot", "Alpha"}, journal);
  EXPECT_TRUE(bad.status.exited_with(2)) << bad.status.describe();
  EXPECT_EQ(bad.err, "invalid --bot: \"Alpha\" is not a bot name: 1 to 32 of a-z, 0-9, _ and -\n");
  EXPECT_TRUE(bad.out.empty());
}

}  // namespace
}  // namespace gq::integration
