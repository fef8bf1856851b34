// `gateway-queue probe`, the container health check, against a live server and a closed port.

#include <gtest/gtest.h>

#include <string>

#include "integration/server_process.hpp"

namespace gq::integration {
namespace {

TEST(probe, exits_0_against_a_serving_queue) {
  server_process server({{"QUEUE_AUTH_TOKEN", "probe-test-token"}});  // /health needs no token
  ASSERT_TRUE(server.start());
  const auto port = std::to_string(server.port());
  auto by_env = run_to_exit({"probe"}, {{"HOST", "127.0.0.1"}, {"PORT", port}});
  EXPECT_TRUE(by_env.status.exited_with(0)) << by_env.status.describe() << by_env.err;
  auto by_flags = run_to_exit({"probe", "--host", "127.0.0.1", "--port", port}, {});
  EXPECT_TRUE(by_flags.status.exited_with(0)) << by_flags.status.describe() << by_flags.err;
  // The image sets HOST=0.0.0.0 to bind every address: the probe then asks loopback.
  auto wildcard = run_to_exit({"probe"}, {{"HOST", "0.0.0.0"}, {"PORT", port}});
  EXPECT_TRUE(wildcard.status.exited_with(0)) << wildcard.status.describe() << wildcard.err;
  // A flag wins over the environment, as for the server.
  auto flag_wins = run_to_exit({"probe", "--port", port}, {{"PORT", "1"}});
  EXPECT_TRUE(flag_wins.status.exited_with(0)) << flag_wins.status.describe() << flag_wins.err;
}

TEST(probe, exits_1_with_one_line_against_a_closed_port) {
  const auto port = std::to_string(free_port());
  auto result = run_to_exit({"probe", "--timeout-ms", "500"}, {{"PORT", port}});
  EXPECT_TRUE(result.status.exited_with(1)) << result.status.describe() << result.err;
  EXPECT_NE(result.err.find("127.0.0.1:" + port), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << "one line: " << result.err;
}

TEST(probe, exits_1_once_the_server_has_stopped) {
  server_process server;
  ASSERT_TRUE(server.start());
  const auto port = std::to_string(server.port());
  ASSERT_TRUE(run_to_exit({"probe"}, {{"PORT", port}}).status.exited_with(0));
  ASSERT_TRUE(server.stop().exited_with(0));
  auto result = run_to_exit({"probe", "--timeout-ms", "500"}, {{"PORT", port}});
  EXPECT_TRUE(result.status.exited_with(1)) << result.status.describe() << result.err;
}

TEST(probe, bad_values_exit_2_naming_the_option) {
  auto port = run_to_exit({"probe"}, {{"PORT", "0"}});
  EXPECT_TRUE(port.status.exited_with(2)) << port.status.describe();
  EXPECT_NE(port.err.find("PORT"), std::string::npos) << port.err;
  auto timeout = run_to_exit({"probe", "--timeout-ms", "0"}, {});
  EXPECT_TRUE(timeout.status.exited_with(2)) << timeout.status.describe();
  EXPECT_NE(timeout.err.find("--timeout-ms"), std::string::npos) << timeout.err;
}

}  // namespace
}  // namespace gq::integration
