// What outsiders can put into the queue's output, and how the queue names itself to Discord:
// Discord's error text cannot forge a log line or act on a terminal (docs/CONFIGURATION.md,
// "Logging"), the bearer scheme is matched as RFC 7235 says (docs/HTTP_API.md, "Auth"), and the
// User-Agent names this project.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "src/core/version.hpp"
#include "support/fake_discord.hpp"

namespace gq::integration {
namespace {

using gq::testing::fake_discord;
using gq::testing::fake_response;
using namespace std::chrono_literals;

// The bytes of a C1 control (U+0080-U+009F) or a bidi control (U+202A-U+202E, U+2066-U+2069),
// raw in `text`; empty when there are none.
std::string first_raw_hazard(const std::string& text) {
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    const auto b1 = static_cast<unsigned char>(text[i + 1]);
    if (b0 == 0xC2 && b1 >= 0x80 && b1 <= 0x9F) return text.substr(i, 2);
    if (i + 2 < text.size() && b0 == 0xE2) {
      const auto b2 = static_cast<unsigned char>(text[i + 2]);
      if ((b1 == 0x80 && b2 >= 0xAA && b2 <= 0xAE) || (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9))
        return text.substr(i, 3);
    }
  }
  return {};
}

bool wait_for_output(const server_process& server, const std::string& needle,
                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (server.stdout_text().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST(hygiene, discords_error_text_cannot_put_raw_c1_or_bidi_controls_into_either_log_format) {
  // NEL (a line break to some readers), CSI (a terminal command) and RIGHT-TO-LEFT OVERRIDE.
  const std::string message = "upstream\xc2\x85" "2026-01-01T00:00:00.000Z error forged "
                              "\xc2\x9b" "31m red \xe2\x80\xae" "desrever";
  for (const char* format : {"text", "json"}) {
    SCOPED_TRACE(format);
    fake_discord fake;
    fake.respond(fake_response::raw(500, nlohmann::json{{"message", message}}.dump()));
    server_process server({{"DISCORD_TOKEN", "hygiene-token"},
                           {"DISCORD_API_URL", fake.api_url()},
                           {"QUEUE_LOG_FORMAT", format}});
    ASSERT_TRUE(server.start());
    ASSERT_TRUE(wait_for_output(server, "desrever", 5s)) << server.output();
    const std::string log = server.stdout_text();
    EXPECT_EQ(first_raw_hazard(log), "") << log;
    EXPECT_NE(log.find(R"(\u0085)"), std::string::npos) << log;
    EXPECT_NE(log.find(R"(\u009b)"), std::string::npos) << log;
    EXPECT_NE(log.find(R"(\u202e)"), std::string::npos) << log;
    EXPECT_EQ(log.find("\nforged"), std::string::npos) << log;
  }
}

TEST(hygiene, bearer_scheme_is_case_insensitive_and_takes_several_spaces_but_not_a_wrong_token) {
  const std::string token = "hygiene-auth-7f3a";
  server_process server({{"QUEUE_AUTH_TOKEN", token}, {"QUEUE_IDENTIFY_INTERVAL_MS", "10"}});
  ASSERT_TRUE(server.start());
  for (const char* scheme : {"Bearer ", "bearer ", "BEARER ", "Bearer  ", "bEaReR   "}) {
    const httplib::Headers headers{{"Authorization", std::string(scheme) + token}};
    EXPECT_EQ(http_get(server.port(), "/status", headers).status, 200) << '"' << scheme << '"';
    EXPECT_EQ(http_get(server.port(), "/?shard=0", headers).status, 200) << '"' << scheme << '"';
  }
  for (const std::string& header :
       {std::string{"bearer wrong"}, "BEARER " + token + "x", "Basic " + token, "bearer" + token, token}) {
    const httplib::Headers headers{{"Authorization", header}};
    EXPECT_EQ(http_get(server.port(), "/status", headers).status, 401) << header;
    EXPECT_EQ(http_get(server.port(), "/?shard=0", headers).status, 401) << header;
  }
}

TEST(hygiene, discord_sees_this_projects_name_and_version_in_the_user_agent) {
  fake_discord fake;
  server_process server({{"DISCORD_TOKEN", "hygiene-ua-token"}, {"DISCORD_API_URL", fake.api_url()}});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(fake.wait_for_requests(1, 3s));
  EXPECT_EQ(fake.requests().front().user_agent,
            "DiscordBot (gateway-queue, " + std::string(build_version()) + ")");
}

}  // namespace
}  // namespace gq::integration
