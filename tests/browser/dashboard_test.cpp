// GET /dashboard in headless Chromium (Debian's `chromium`, installed by scripts/setup.sh): the
// page is loaded while shards wait, its rendered DOM is compared with /status, and a screenshot
// is left in the build directory (dashboard.png) for people to look at.
//
// Without Chromium this test fails: it is part of the suite, not optional.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "integration/bots_support.hpp"
#include "integration/clients.hpp"
#include "integration/discord_support.hpp"
#include "integration/server_process.hpp"
#include "support/postgres_server.hpp"

namespace gq::integration {
namespace {

// Runs Chromium headless on `url` with `extra` flags; returns its stdout ("" when it failed).
// A fresh profile each time; killed by PID after 60 s.
std::string run_chromium(const std::string& url, const std::vector<std::string>& extra) {
  scratch_dir profile;
  std::vector<std::string> args{GQ_CHROMIUM,
                                "--headless",
                                "--no-sandbox",
                                "--disable-gpu",
                                "--disable-quic",
                                "--no-first-run",
                                "--disable-background-networking",
                                "--disable-component-update",
                                "--disable-sync",
                                "--user-data-dir=" + profile.file("profile"),
                                "--virtual-time-budget=6000"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(url);
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string out = profile.file("stdout.txt");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, profile.file("stderr.txt").c_str(),
                                   O_WRONLY | O_CREAT, 0644);
  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return {};
  auto status = wait_for_exit(pid, 60s);
  if (!status) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ADD_FAILURE() << "chromium did not finish within 60 s";
    return {};
  }
  EXPECT_TRUE(status->exited_with(0)) << status->describe() << "\n"
                                      << read_text_file(profile.file("stderr.txt"));
  return read_text_file(out);
}

// The text of the element with this id in the dumped DOM ("" when absent).
std::string text_of(const std::string& dom, const std::string& id) {
  std::smatch m;
  if (std::regex_search(dom, m, std::regex("id=\"" + id + "\"[^>]*>([^<]*)<"))) return m[1];
  return {};
}

// The waiting count shown in the row of bucket `b` ("" when absent).
std::string bucket_waiting_of(const std::string& dom, int b) {
  std::smatch m;
  const std::regex row("<tr id=\"bucket-" + std::to_string(b) +
                       "\"><td>[0-9]+</td><td class=\"waiting\">([0-9]+)</td>");
  if (std::regex_search(dom, m, row)) return m[1];
  return {};
}

// The bot the picker shows: its option marked selected ("" when none).
std::string dom_picker_value(const std::string& dom) {
  std::smatch m;
  if (std::regex_search(dom, m, std::regex("<option value=\"([^\"]*)\" selected"))) return m[1];
  return {};
}

TEST(dashboard, shows_the_numbers_of_status_while_shards_wait) {
  ASSERT_TRUE(std::filesystem::exists(GQ_CHROMIUM))
      << "chromium not found (" << GQ_CHROMIUM << "): scripts/setup.sh installs it";
  // A 10-minute interval: after the first grant of each bucket nothing moves during the check.
  server_process server{{"QUEUE_MAX_CONCURRENCY", "3"},
                        {"QUEUE_IDENTIFY_INTERVAL_MS", "600000"},
                        {"QUEUE_DAILY_LIMIT", "100"}};
  ASSERT_TRUE(server.start());
  std::vector<std::string> targets;
  for (int shard = 0; shard < 11; ++shard) targets.push_back("/?shard=" + std::to_string(shard));
  auto requests = fire_concurrently(server.port(), targets);
  ASSERT_TRUE(wait_for_waiting(server.port(), 8, 5s));  // shards 0-2 granted at once

  const auto before = http_get(server.port(), "/status").json();
  const std::string url = server.base_url() + "/dashboard";
  const auto dom = run_chromium(url, {"--dump-dom"});
  const auto after = http_get(server.port(), "/status").json();
  ASSERT_EQ(before["waiting"], after["waiting"]) << "the queue moved during the check";
  ASSERT_EQ(before["remaining"], after["remaining"]);

  ASSERT_FALSE(dom.empty());
  EXPECT_EQ(text_of(dom, "waiting"), after["waiting"].dump()) << dom;
  EXPECT_EQ(text_of(dom, "remaining"), after["remaining"].dump());
  EXPECT_EQ(text_of(dom, "total"), after["total"].dump());
  EXPECT_EQ(text_of(dom, "max-concurrency"), "3");
  EXPECT_EQ(after["waiting"], 8);
  EXPECT_EQ(after["remaining"], 97);
  for (int b = 0; b < 3; ++b)
    EXPECT_EQ(bucket_waiting_of(dom, b), after["buckets"][b]["waiting"].dump()) << "bucket " << b;
  EXPECT_NE(text_of(dom, "state").find("updated"), std::string::npos)
      << "the page polled /status: " << text_of(dom, "state");
  EXPECT_EQ(text_of(dom, "role"), "active");
  EXPECT_NE(dom.find("shard 0 (bucket 0)"), std::string::npos)
      << "the timeline lists the grants from /history";
  EXPECT_EQ(text_of(dom, "bot"), "") << "one bot, `default`: no name, no picker";
  EXPECT_NE(dom.find("id=\"bot-choice\" class=\"dim\" hidden"), std::string::npos);

  const std::string shot = std::string(GQ_SCREENSHOT_DIR) + "/dashboard.png";
  std::filesystem::remove(shot);
  run_chromium(url, {"--screenshot=" + shot, "--window-size=1280,1000", "--hide-scrollbars"});
  ASSERT_TRUE(std::filesystem::exists(shot));
  EXPECT_GT(std::filesystem::file_size(shot), 10'000u) << "an empty screenshot";
}

// The entries of the grants list in the dumped DOM.
std::size_t grants_listed(const std::string& dom) {
  const auto list = dom.find("id=\"grants\"");
  const auto end = dom.find("</ul>", list);
  if (list == std::string::npos || end == std::string::npos) return 0;
  return count_of(dom.substr(list, end - list), "<li>");
}

// Two bots and no `default`: the page picks the first, or the one its address names, shows its
// numbers and its grants alone; under /bots/NAME/ it shows that bot without a picker.
TEST(dashboard, shows_the_picked_bot_of_several) {
  ASSERT_TRUE(std::filesystem::exists(GQ_CHROMIUM)) << "chromium not found: run scripts/setup.sh";
  server_process server;
  serve_bots(server, {open_bot("alpha", "max_concurrency = 2\nidentify_interval_ms = 600000\n"),
                      open_bot("beta", "max_concurrency = 3\nidentify_interval_ms = 600000\n")});
  ASSERT_TRUE(server.start());
  std::vector<std::string> targets;
  for (int shard = 0; shard < 5; ++shard)
    targets.push_back("/bots/alpha/?shard=" + std::to_string(shard));
  for (int shard = 0; shard < 7; ++shard)
    targets.push_back("/?bot=beta&shard=" + std::to_string(shard));
  auto requests = fire_concurrently(server.port(), targets);
  ASSERT_TRUE(wait_for_bot_waiting(server.port(), "alpha", 3));
  ASSERT_TRUE(wait_for_bot_waiting(server.port(), "beta", 4));

  const auto first = run_chromium(server.base_url() + "/dashboard", {"--dump-dom"});
  EXPECT_EQ(dom_picker_value(first), "alpha") << first;
  EXPECT_NE(first.find("<option value=\"beta\">beta</option>"), std::string::npos);
  EXPECT_EQ(first.find("id=\"bot-choice\" class=\"dim\" hidden"), std::string::npos)
      << "the picker is shown";
  EXPECT_EQ(text_of(first, "max-concurrency"), "2");
  EXPECT_EQ(text_of(first, "waiting"), "3");
  EXPECT_EQ(grants_listed(first), 2u) << "alpha's grants alone";
  EXPECT_NE(text_of(first, "state").find("updated"), std::string::npos) << text_of(first, "state");

  const auto picked = run_chromium(server.base_url() + "/dashboard?bot=beta", {"--dump-dom"});
  EXPECT_EQ(dom_picker_value(picked), "beta") << picked;
  EXPECT_EQ(text_of(picked, "max-concurrency"), "3");
  EXPECT_EQ(text_of(picked, "waiting"), "4");
  EXPECT_EQ(grants_listed(picked), 3u) << "beta's grants alone";
  EXPECT_NE(picked.find("shard 2 (bucket 2)"), std::string::npos);

  const auto alone = run_chromium(server.base_url() + "/bots/beta/dashboard", {"--dump-dom"});
  EXPECT_EQ(text_of(alone, "bot"), "bot beta") << alone;
  EXPECT_NE(alone.find("id=\"bot-choice\" class=\"dim\" hidden"), std::string::npos)
      << "one bot alone: no picker";
  EXPECT_EQ(text_of(alone, "waiting"), "4");
  EXPECT_EQ(grants_listed(alone), 3u);
  EXPECT_NE(text_of(alone, "state").find("updated"), std::string::npos) << text_of(alone, "state");
}

// The cell with this class in the row of bucket `b` ("" when absent).
std::string bucket_cell_of(const std::string& dom, int b, const std::string& cell_class) {
  std::smatch m;
  const std::regex cell("<tr id=\"bucket-" + std::to_string(b) + "\">.*?<td class=\"" + cell_class +
                        "[^\"]*\">([^<]*)</td>");
  if (std::regex_search(dom, m, cell)) return m[1];
  return {};
}

TEST(dashboard, shows_a_widened_bucket_its_invalid_sessions_and_looping_shards) {
  server_process server{{"QUEUE_MAX_CONCURRENCY", "2"},
                        {"QUEUE_IDENTIFY_INTERVAL_MS", "1000"},
                        {"QUEUE_SHARD_HOURLY_LIMIT", "1"}};
  ASSERT_TRUE(server.start());
  ASSERT_EQ(http_get(server.port(), "/?shard=1").status, 200);
  ASSERT_EQ(http_request(server.port(), "POST", "/outcome?shard=1&result=invalid_session").status,
            204);
  ASSERT_EQ(http_get(server.port(), "/?shard=1").status, 429);
  const auto dom = run_chromium(server.base_url() + "/dashboard", {"--dump-dom"});
  EXPECT_EQ(bucket_cell_of(dom, 1, "spacing"), "2 s (widened)") << dom;
  EXPECT_EQ(bucket_cell_of(dom, 0, "spacing"), "1 s");
  EXPECT_EQ(bucket_cell_of(dom, 1, "invalid-sessions"), "1");
  EXPECT_NE(text_of(dom, "looping").find("shard 1"), std::string::npos) << text_of(dom, "looping");
}

TEST(dashboard, asks_for_the_token_when_the_queue_requires_one) {
  ASSERT_TRUE(std::filesystem::exists(GQ_CHROMIUM)) << "chromium not found: run scripts/setup.sh";
  server_process server{{"QUEUE_AUTH_TOKEN", "dashboard-test-token"}};
  ASSERT_TRUE(server.start());
  const auto dom = run_chromium(server.base_url() + "/dashboard", {"--dump-dom"});
  EXPECT_NE(dom.find("id=\"auth\" class=\"wide shown\""), std::string::npos) << dom;
  EXPECT_EQ(text_of(dom, "state"), "token required");
  EXPECT_EQ(text_of(dom, "remaining"), "–") << "no data without the token";
}

// Two queues on one PostgreSQL journal: the standby's page says it is the standby, and polls
// without the error the history it cannot serve (503) would show.
TEST(dashboard, a_standby_says_so_and_polls_without_error) {
  ASSERT_TRUE(std::filesystem::exists(GQ_CHROMIUM)) << "chromium not found: run scripts/setup.sh";
  auto& postgres = gq::testing::postgres_server::shared();
  const std::string uri = postgres.uri(postgres.create_database());
  server_process active{{"QUEUE_DB", uri}};
  ASSERT_TRUE(active.start());
  ASSERT_TRUE(discord_support::eventually(
      [&] { return http_get(active.port(), "/ready").status == 200; }, 10s))
      << active.output();
  server_process standby{{"QUEUE_DB", uri}};
  ASSERT_TRUE(standby.start());
  ASSERT_EQ(http_get(standby.port(), "/ready").status, 503) << standby.output();

  const auto dom = run_chromium(standby.base_url() + "/dashboard", {"--dump-dom"});
  EXPECT_EQ(text_of(dom, "role"), "standby (another queue is active)") << dom;
  EXPECT_NE(text_of(dom, "state").find("updated"), std::string::npos) << text_of(dom, "state");
  EXPECT_NE(text_of(dom, "timeline-range").find("a standby"), std::string::npos);
}

}  // namespace
}  // namespace gq::integration
