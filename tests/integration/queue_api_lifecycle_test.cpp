// The process around the queue, through the real binary: shutdown on SIGTERM, and
// configuration errors, --help and flags against environment variables.
// The contract: docs/HTTP_API.md and docs/CONFIGURATION.md.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/queue_api_checks.hpp"
#include "integration/server_process.hpp"
#include "storage/test_support.hpp"

namespace gq::integration {
namespace {

using namespace queue_api_checks;
using storage::testing::raw_db;

// --- shutdown --------------------------------------------------------------------------------

TEST(queue_api, sigterm_answers_waiters_503_or_closes_and_exits_0) {
  // The waiters' grants are a day away: a shutdown that waited for them would not end before
  // the deadline below, which only stops a hung test.
  server_process server({{"QUEUE_IDENTIFY_INTERVAL_MS", "86400000"}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));
  auto waiters = fire_concurrently(server.port(), {"/?shard=0", "/?shard=1", "/?shard=2"});
  ASSERT_TRUE(wait_for_waiting(server.port(), 3)) << server.output();

  server.terminate();
  const exit_status status = server.wait(30s);
  EXPECT_TRUE(status.exited_with(0)) << status.describe() << "\n" << server.output();
  raw_db journal(server.db_path(), SQLITE_OPEN_READONLY);
  EXPECT_EQ(journal.scalar("SELECT count(*) FROM releases"), "1") << "a waiter was granted";
  for (auto& waiter : waiters) {
    const int answer = waiter->status();
    EXPECT_TRUE(answer == 503 || answer == 0) << waiter->target() << " got " << answer;
    // Ask again in a second: a standby taking over, or this queue restarted, answers then.
    if (answer == 503) {
      EXPECT_EQ(waiter->get()->header("retry-after"), "1") << waiter->target();
    }
  }
}

TEST(queue_api, sigterm_on_an_idle_server_exits_0) {
  server_process server;
  ASSERT_TRUE(server.start());
  const exit_status status = server.stop(5s);
  EXPECT_TRUE(status.exited_with(0)) << status.describe() << "\n" << server.output();
}

// --- configuration ---------------------------------------------------------------------------

TEST(queue_api, bad_configuration_exits_2_naming_the_variable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"PORT", "abc"},
      {"PORT", "70000"},
      {"QUEUE_ON_EXHAUSTED", "maybe"},
      {"QUEUE_IDENTIFY_INTERVAL_MS", "-5"},
      {"QUEUE_MAX_CONCURRENCY", "many"},
      {"QUEUE_LOG_FORMAT", "xml"},
      {"QUEUE_LOG_LEVEL", "loud"}};
  for (const auto& [name, value] : cases) {
    env_map env = {{"PORT", std::to_string(free_port())}};
    env[name] = value;
    const run_result run = run_to_exit({}, env, 5s);
    EXPECT_FALSE(run.timed_out) << name << "=" << value << " was accepted";
    EXPECT_TRUE(run.status.exited_with(2))
        << name << "=" << value << ": " << run.status.describe() << "\n"
        << run.err;
    EXPECT_NE(run.err.find(name), std::string::npos)
        << name << "=" << value << " stderr: " << run.err;
  }
}

TEST(queue_api, bad_flag_value_exits_2) {
  const run_result run = run_to_exit({"--port", "abc"}, {}, 5s);
  EXPECT_FALSE(run.timed_out);
  EXPECT_TRUE(run.status.exited_with(2)) << run.status.describe() << "\n" << run.err;
  EXPECT_FALSE(run.err.empty());
}

TEST(queue_api, help_lists_every_variable_and_exits_0) {
  const run_result run = run_to_exit({"--help"}, {}, 5s);
  EXPECT_TRUE(run.status.exited_with(0)) << run.status.describe() << "\n" << run.err;
  for (const char* name :
       {"HOST", "PORT", "DISCORD_TOKEN", "DISCORD_API_URL", "QUEUE_DB",
        "QUEUE_IDENTIFY_INTERVAL_MS", "QUEUE_MAX_CONCURRENCY", "QUEUE_DAILY_LIMIT",
        "QUEUE_REFRESH_INTERVAL_S", "QUEUE_ON_EXHAUSTED", "QUEUE_MAX_WAITING", "QUEUE_AUTH_TOKEN",
        "QUEUE_RETENTION_DAYS", "QUEUE_LOG_FORMAT", "QUEUE_LOG_LEVEL"}) {
    EXPECT_NE(run.out.find(name), std::string::npos) << name << " missing from --help:\n"
                                                     << run.out;
  }
}

TEST(queue_api, flag_wins_over_its_environment_variable) {
  scratch_dir files;
  const std::string env_db = files.file("from-env.db");
  const std::string flag_db = files.file("from-flag.db");
  server_process server({{"QUEUE_DB", env_db}, {"QUEUE_IDENTIFY_INTERVAL_MS", "50"}},
                        {"--db", flag_db});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(is_granted(http_get(server.port(), "/?shard=0")));
  EXPECT_TRUE(std::filesystem::exists(flag_db));
  EXPECT_FALSE(std::filesystem::exists(env_db));
}

}  // namespace
}  // namespace gq::integration
