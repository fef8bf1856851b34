// DISCORD_TOKEN stays secret across Discord's faults: never in a log, an endpoint, the journal
// or any file the server writes (docs/CONFIGURATION.md, "Secrets"). Real binary, fake Discord
// (discord_support.hpp).

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "integration/discord_support.hpp"

namespace gq::integration {
namespace {

using namespace discord_support;

// --- the token stays secret ----------------------------------------------------------------------

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

}  // namespace
}  // namespace gq::integration
