// src/app/exposure.cpp: which bind addresses count as loopback, and when the start-up warning is due.

#include "src/app/exposure.hpp"

#include <gtest/gtest.h>

namespace gq {
namespace {

TEST(exposure, loopback_addresses_and_localhost_are_loopback) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "0:0:0:0:0:0:0:1",
                           "::ffff:127.0.0.1", "localhost", "LocalHost", "localhost."})
    EXPECT_TRUE(is_loopback_host(host)) << host;
}

TEST(exposure, wildcard_private_public_and_other_names_are_not_loopback) {
  for (const char* host :
       {"0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "128.0.0.1", "126.0.0.1", "::2",
        "::ffff:10.0.0.1", "example.com", "localhost.example.com", "queue", ""})
    EXPECT_FALSE(is_loopback_host(host)) << host;
}

TEST(exposure, a_network_address_without_a_token_is_warned_about) {
  server_config config;
  config.host = "0.0.0.0";
  auto warning = exposure_warning(config);
  ASSERT_TRUE(warning);
  EXPECT_NE(warning->find("QUEUE_AUTH_TOKEN"), std::string::npos) << *warning;
  EXPECT_NE(warning->find("0.0.0.0"), std::string::npos) << *warning;
}

TEST(exposure, loopback_or_a_token_needs_no_warning) {
  server_config config;
  EXPECT_FALSE(exposure_warning(config)) << "the default HOST is loopback";
  config.host = "0.0.0.0";
  config.auth_token = "secret";
  EXPECT_FALSE(exposure_warning(config));
}

}  // namespace
}  // namespace gq
