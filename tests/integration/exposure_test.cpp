// A queue reachable from the network without QUEUE_AUTH_TOKEN starts (drop-in compatibility) but
// says loudly at start that anyone who can connect can spend the bot's session starts.
// docs/SECURITY.md.
//
// The server that binds 0.0.0.0 runs in a network namespace of its own (unshare --net, root
// only), so nothing outside the test can reach it.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <string>

#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

const std::vector<std::string> k_isolated = {"/usr/bin/unshare", "--net", "--"};

bool can_isolate() { return std::system("/usr/bin/unshare --net -- /bin/true 2>/dev/null") == 0; }

// Starts the binary on 0.0.0.0 in its own network namespace, waits for its "listening" line and
// stops it; returns everything it logged.
std::string log_of_server_on_all_interfaces(env_map env) {
  scratch_dir dir;
  env["HOST"] = "0.0.0.0";
  env["PORT"] = std::to_string(free_port());
  env["QUEUE_DB"] = dir.file("gateway-queue.db");
  const auto out = dir.file("stdout.log");
  const auto err = dir.file("stderr.log");
  const pid_t pid = spawn_binary({}, env, dir.path(), out, err, k_isolated);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (read_text_file(out).find("listening on") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline && !wait_for_exit(pid, 20ms)) {
  }
  ::kill(pid, SIGTERM);
  if (!wait_for_exit(pid, 5s)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  return read_text_file(out) + read_text_file(err);
}

TEST(exposure, a_server_on_all_interfaces_without_a_token_warns_at_start) {
  if (!can_isolate()) GTEST_SKIP() << "unshare --net is not permitted here (needs root)";
  const auto log = log_of_server_on_all_interfaces({});
  ASSERT_NE(log.find("listening on 0.0.0.0"), std::string::npos) << log;
  const auto warning = log.find("UNPROTECTED");
  ASSERT_NE(warning, std::string::npos) << log;
  EXPECT_NE(log.find("warn"), std::string::npos) << log;
  EXPECT_NE(log.find("QUEUE_AUTH_TOKEN", warning), std::string::npos) << log;
  EXPECT_NE(log.find("docs/SECURITY.md", warning), std::string::npos) << log;
}

TEST(exposure, a_token_or_a_loopback_address_needs_no_warning) {
  if (!can_isolate()) GTEST_SKIP() << "unshare --net is not permitted here (needs root)";
  const auto with_token = log_of_server_on_all_interfaces({{"QUEUE_AUTH_TOKEN", "s3cret"}});
  ASSERT_NE(with_token.find("listening on 0.0.0.0"), std::string::npos) << with_token;
  EXPECT_EQ(with_token.find("UNPROTECTED"), std::string::npos) << with_token;

  server_process loopback;
  ASSERT_TRUE(loopback.start());
  EXPECT_EQ(loopback.stop().code, 0);
  EXPECT_EQ(loopback.output().find("UNPROTECTED"), std::string::npos) << loopback.output();
}

}  // namespace
}  // namespace gq::integration
