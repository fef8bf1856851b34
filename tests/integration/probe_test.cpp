// `gateway-queue probe`, the container health check, against a live server and a closed port,
// and `probe --ready` against an active queue and a standby.

#include <gtest/gtest.h>

#include <string>

#include "integration/server_process.hpp"
#include "support/postgres_server.hpp"

namespace gq::integration {
namespace {

using gq::testing::postgres_server;

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

// --ready asks GET /ready: which of the queues sharing a PostgreSQL journal is the active one, for
// a load balancer or keepalived. A lone queue is always ready; a standby serves (/health) but is
// not ready until it takes the journal over.
TEST(probe, ready_exits_0_on_the_active_queue_and_1_on_a_standby) {
  postgres_server postgres;
  const std::string uri = postgres.uri(postgres.create_database());
  server_process active({{"QUEUE_DB", uri}});
  ASSERT_TRUE(active.start()) << active.output();
  server_process standby({{"QUEUE_DB", uri}});
  ASSERT_TRUE(standby.start()) << standby.output();
  const auto active_port = std::to_string(active.port());
  const auto standby_port = std::to_string(standby.port());

  auto on_active = run_to_exit({"probe", "--ready", "--port", active_port}, {});
  EXPECT_TRUE(on_active.status.exited_with(0)) << on_active.status.describe() << on_active.err;
  auto standby_health = run_to_exit({"probe", "--port", standby_port}, {});
  EXPECT_TRUE(standby_health.status.exited_with(0)) << standby_health.err;
  auto on_standby = run_to_exit({"probe", "--ready", "--port", standby_port}, {});
  EXPECT_TRUE(on_standby.status.exited_with(1)) << on_standby.status.describe();
  EXPECT_EQ(on_standby.err, "gateway-queue probe: GET http://127.0.0.1:" + standby_port +
                                "/ready answered 503\n");
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
