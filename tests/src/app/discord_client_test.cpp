#include "src/app/discord_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "src/core/version.hpp"
#include "support/fake_discord.hpp"

namespace gq {
namespace {

using namespace std::chrono_literals;
using outcome = limits_fetch::outcome;
using testing::fake_discord;
using testing::fake_response;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr unix_ms k_now = 1'795'435'200'000;

std::string gateway_body(const std::string& limits) {
  return R"({"url": "wss://gateway.discord.gg", "shards": 9, "session_start_limit": )" + limits +
         "}";
}

limits_fetch interpret(int status, const std::string& body, std::string_view header = "") {
  return interpret_gateway_bot(status, body, header, k_now);
}

// -- interpret_gateway_bot --------------------------------------------------------------------

TEST(interpret_gateway_bot, ok_yields_limits_with_the_reset_a_millisecond_after_reset_after) {
  const auto result = interpret(
      200,
      gateway_body(
          R"({"total": 1000, "remaining": 998, "reset_after": 14400000, "max_concurrency": 16})"));
  ASSERT_EQ(result.result, outcome::ok) << result.detail;
  EXPECT_EQ(result.limits,
            (session_limits{1000, 998, k_now + 14'400'001, 16, limits_source::discord, k_now}));
}

TEST(interpret_gateway_bot, ok_accepts_zero_remaining_and_zero_reset_after) {
  const auto result = interpret(
      200, gateway_body(R"({"total": 1, "remaining": 0, "reset_after": 0, "max_concurrency": 1})"));
  ASSERT_EQ(result.result, outcome::ok) << result.detail;
  EXPECT_EQ(result.limits.reset_at, k_now + 1);
}

TEST(interpret_gateway_bot, unauthorized_on_401) {
  EXPECT_EQ(interpret(401, R"({"message": "401: Unauthorized", "code": 0})").result,
            outcome::unauthorized);
}

TEST(interpret_gateway_bot, rate_limited_takes_retry_after_from_the_body_first) {
  const auto result = interpret(429, R"({"retry_after": 1.5, "global": false})", "7");
  ASSERT_EQ(result.result, outcome::rate_limited);
  EXPECT_EQ(result.retry_after, 1500ms);
}

TEST(interpret_gateway_bot, rate_limited_falls_back_to_the_header_then_to_five_seconds) {
  EXPECT_EQ(interpret(429, "rate limited", "3").retry_after, 3000ms);
  EXPECT_EQ(interpret(429, R"({"retry_after": "soon"})", "2.25").retry_after, 2250ms);
  EXPECT_EQ(interpret(429, R"({"retry_after": -1})", "4").retry_after, 4000ms);
  EXPECT_EQ(interpret(429, "", "").retry_after, 5000ms);
  EXPECT_EQ(interpret(429, "", "Wed, 21 Oct 2015 07:28:00 GMT").retry_after, 5000ms);
  EXPECT_EQ(interpret(429, "", "-3").retry_after, 5000ms);
}

TEST(interpret_gateway_bot, rate_limited_wait_is_bounded) {
  EXPECT_EQ(interpret(429, R"({"retry_after": 1e12})").retry_after, 3600s);
  EXPECT_EQ(interpret(429, "", "99999999999").retry_after, 3600s);
  EXPECT_EQ(interpret(429, R"({"retry_after": 0})").retry_after, 100ms);
  EXPECT_EQ(interpret(429, R"({"retry_after": 0.0001})").retry_after, 100ms);
  EXPECT_EQ(interpret(429, R"({"retry_after": 0.2501})").retry_after, 251ms);
}

TEST(interpret_gateway_bot, rate_limited_detail_says_global) {
  EXPECT_THAT(interpret(429, R"({"retry_after": 1, "global": true})").detail, HasSubstr("global"));
}

TEST(interpret_gateway_bot, other_statuses_fail_with_the_status_and_discords_message) {
  for (int status : {500, 502, 503, 504, 404, 204, 301}) {
    const auto result = interpret(status, "<html>oops</html>");
    EXPECT_EQ(result.result, outcome::failed);
    EXPECT_EQ(result.detail, "HTTP " + std::to_string(status));
  }
  const auto forbidden = interpret(403, R"({"message": "Missing\nAccess", "code": 50001})");
  EXPECT_EQ(forbidden.detail, "HTTP 403: Missing Access");
}

TEST(interpret_gateway_bot, bodies_that_are_not_the_expected_json_fail) {
  for (const std::string body :
       {"", "<html>Bad Gateway</html>", "{", "[]", "42", "null", R"({"url": "wss://x"})",
        R"({"session_start_limit": 5})", R"({"session_start_limit": null})"}) {
    const auto result = interpret(200, body);
    EXPECT_EQ(result.result, outcome::failed) << body;
    EXPECT_FALSE(result.detail.empty()) << body;
  }
}

struct field_case {
  std::string limits;
  std::string expected_in_detail;
};

TEST(interpret_gateway_bot, missing_mistyped_and_absurd_fields_fail_naming_the_field) {
  const field_case cases[] = {
      {R"({"remaining": 1, "reset_after": 1, "max_concurrency": 1})", "total is missing"},
      {R"({"total": 1, "reset_after": 1, "max_concurrency": 1})", "remaining is missing"},
      {R"({"total": 1, "remaining": 1, "max_concurrency": 1})", "reset_after is missing"},
      {R"({"total": 1, "remaining": 1, "reset_after": 1})", "max_concurrency is missing"},
      {R"({"total": "1000", "remaining": 1, "reset_after": 1, "max_concurrency": 1})",
       "total is not an integer"},
      {R"({"total": 1000, "remaining": 1.5, "reset_after": 1, "max_concurrency": 1})",
       "remaining is not an integer"},
      {R"({"total": 1000, "remaining": 1, "reset_after": null, "max_concurrency": 1})",
       "reset_after is not an integer"},
      {R"({"total": 1000, "remaining": 1, "reset_after": 1, "max_concurrency": true})",
       "max_concurrency is not an integer"},
      {R"({"total": 1000, "remaining": 1, "reset_after": 1, "max_concurrency": 0})",
       "max_concurrency is 0"},
      {R"({"total": 1000, "remaining": 1, "reset_after": 1, "max_concurrency": 65537})",
       "max_concurrency is 65537"},
      {R"({"total": 1000, "remaining": 1001, "reset_after": 1, "max_concurrency": 1})",
       "remaining (1001) exceeds total (1000)"},
      {R"({"total": 1000, "remaining": -1, "reset_after": 1, "max_concurrency": 1})",
       "remaining is negative"},
      {R"({"total": 0, "remaining": 0, "reset_after": 1, "max_concurrency": 1})", "total is 0"},
      {R"({"total": 4294967296, "remaining": 1, "reset_after": 1, "max_concurrency": 1})",
       "total is 4294967296"},
      {R"({"total": 18446744073709551615, "remaining": 1, "reset_after": 1, "max_concurrency": 1})",
       "total is too large"},
      {R"({"total": 1000, "remaining": 1, "reset_after": -5, "max_concurrency": 1})",
       "reset_after is negative"},
      {R"({"total": 1000, "remaining": 1, "reset_after": 604800001, "max_concurrency": 1})",
       "reset_after is 604800001"},
  };
  for (const auto& c : cases) {
    const auto result = interpret(200, gateway_body(c.limits));
    EXPECT_EQ(result.result, outcome::failed) << c.limits;
    EXPECT_THAT(result.detail, HasSubstr("session_start_limit." + c.expected_in_detail))
        << c.limits;
  }
}

// -- discord_client ---------------------------------------------------------------------------

TEST(discord_client, rejects_urls_that_are_not_http_or_https) {
  for (const char* url : {"", "discord.com/api", "ftp://x/api", "http://", "https:///api",
                          "http://h:0", "http://h:65536", "http://h:", "http://[::1",
                          "http://u:p@h/api", "http://h/api?x=1", "http://h/a b"}) {
    EXPECT_THROW(discord_client(url, "t"), std::invalid_argument) << url;
  }
  for (const char* url : {"https://discord.com/api/v10", "http://127.0.0.1:1", "http://[::1]:80/",
                          "http://h:65535/x/"}) {
    EXPECT_NO_THROW(discord_client(url, "t")) << url;
  }
}

TEST(discord_client, sends_token_and_user_agent_to_gateway_bot_under_the_prefix) {
  fake_discord fake;
  const auto result = discord_client(fake.api_url(), "tok-abc", 5s).fetch();
  ASSERT_EQ(result.result, outcome::ok) << result.detail;
  const auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/api/v10/gateway/bot");
  EXPECT_EQ(requests[0].authorization, "Bot tok-abc");
  EXPECT_EQ(requests[0].user_agent,
            "DiscordBot (gateway-queue, " + std::string(build_version()) + ")");
}

TEST(discord_client, trailing_slash_and_empty_prefix_give_clean_paths) {
  fake_discord fake;
  discord_client(fake.api_url("/api/v10/"), "tok-test-1", 5s).fetch();
  discord_client(fake.api_url(""), "tok-test-1", 5s).fetch();
  const auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].path, "/api/v10/gateway/bot");
  EXPECT_EQ(requests[1].path, "/gateway/bot");
}

TEST(discord_client, reads_discords_budget_as_it_falls_and_concurrency_as_it_changes) {
  fake_discord fake{{.total = 5, .remaining = 5, .reset_after = 60s, .max_concurrency = 1}};
  discord_client client{fake.api_url(), "tok-test-1", 5s};
  const auto before = fake_discord::wall_clock();
  auto first = client.fetch();
  ASSERT_EQ(first.result, outcome::ok) << first.detail;
  EXPECT_EQ(first.limits.total, 5u);
  EXPECT_EQ(first.limits.remaining, 5u);
  EXPECT_EQ(first.limits.max_concurrency, 1u);
  EXPECT_EQ(first.limits.source, limits_source::discord);
  EXPECT_GE(first.limits.fetched_at, before);
  EXPECT_LE(first.limits.fetched_at, fake_discord::wall_clock());
  EXPECT_NEAR(double(first.limits.reset_at - first.limits.fetched_at), 60'000.0, 2'000.0);

  EXPECT_TRUE(fake.identify());
  EXPECT_TRUE(fake.identify());
  fake.set_max_concurrency(16);
  const auto second = client.fetch();
  ASSERT_EQ(second.result, outcome::ok) << second.detail;
  EXPECT_EQ(second.limits.remaining, 3u);
  EXPECT_EQ(second.limits.max_concurrency, 16u);
}

// Discord counts reset_after from when it answers: counted from when the request left, a slow
// answer would put the reset that much early, and shards would identify in the old window.
TEST(discord_client, a_slow_answer_never_places_the_reset_before_discords) {
  fake_discord fake{{.total = 5, .remaining = 0, .reset_after = 60s, .max_concurrency = 1}};
  discord_client client{fake.api_url(), "tok-test-1", 5s};
  fake.respond_once(fake_response::limits().after(300ms));
  const auto fetched = client.fetch();
  const auto returned = fake_discord::wall_clock();
  ASSERT_EQ(fetched.result, outcome::ok) << fetched.detail;
  EXPECT_GE(fetched.limits.reset_at, fake.reset_at());
  EXPECT_LE(fetched.limits.reset_at, returned + 60'000 + 1)
      << "counted from later than the answer, or more than the 1 ms margin late";
}

TEST(discord_client, maps_scripted_failures) {
  fake_discord fake;
  discord_client client{fake.api_url(), "tok-test-1", 5s};
  fake.respond_once(fake_response::unauthorized());
  fake.respond_once(fake_response::rate_limited(2.5));
  fake.respond_once(fake_response::rate_limited_header_only("7"));
  fake.respond_once(fake_response::server_error(502));
  fake.respond_once(fake_response::garbage());
  EXPECT_EQ(client.fetch().result, outcome::unauthorized);
  const auto limited = client.fetch();
  EXPECT_EQ(limited.result, outcome::rate_limited);
  EXPECT_EQ(limited.retry_after, 2500ms);
  EXPECT_EQ(client.fetch().retry_after, 7000ms);
  const auto bad_gateway = client.fetch();
  EXPECT_EQ(bad_gateway.result, outcome::failed);
  EXPECT_THAT(bad_gateway.detail, HasSubstr("HTTP 502"));
  EXPECT_EQ(client.fetch().result, outcome::failed);
  EXPECT_EQ(client.fetch().result, outcome::ok);  // the script is used up
}

TEST(discord_client, connection_refused_fails) {
  std::string url;
  {
    fake_discord gone;
    url = gone.api_url();
  }
  const auto result = discord_client(url, "tok-test-1", 2s).fetch();
  EXPECT_EQ(result.result, outcome::failed);
  EXPECT_THAT(result.detail, HasSubstr("request failed"));
}

// The timeout is the one given: an answer 1 s late fails a 200 ms client and reaches a 5 s one.
TEST(discord_client, a_slow_answer_fails_by_timeout) {
  fake_discord fake;
  fake.respond(fake_response::limits().after(1s));
  const auto result = discord_client(fake.api_url(), "tok-test-1", 200ms).fetch();
  EXPECT_EQ(result.result, outcome::failed);
  EXPECT_THAT(result.detail, HasSubstr("timeout"));
  const auto patient = discord_client(fake.api_url(), "tok-test-1", 5s).fetch();
  EXPECT_EQ(patient.result, outcome::ok) << patient.detail;
}

TEST(discord_client, https_to_a_plain_http_server_fails_without_falling_back) {
  fake_discord fake;
  const auto result =
      discord_client("https://127.0.0.1:" + std::to_string(fake.port()) + "/api", "tok-test-1", 2s)
          .fetch();
  EXPECT_EQ(result.result, outcome::failed);
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST(discord_client, the_token_never_appears_in_a_detail) {
  const std::string token = "MTIz.tok-never-shown";
  fake_discord fake;
  discord_client client{fake.api_url(), token, 5s};
  fake.respond_once(fake_response::raw(403, R"({"message": "token MTIz.tok-never-shown bad"})"));
  fake.respond_once(fake_response::unauthorized());
  fake.respond_once(fake_response::rate_limited(1));
  fake.respond_once(fake_response::garbage(token));
  fake.respond_once(fake_response::limits());
  for (int i = 0; i < 5; ++i) {
    const auto result = client.fetch();
    EXPECT_THAT(result.detail, Not(HasSubstr(token))) << i;
    EXPECT_THAT(result.detail, Not(HasSubstr("never-shown"))) << i;
  }
  std::string url;
  {
    fake_discord gone;
    url = gone.api_url();
  }
  EXPECT_THAT(discord_client(url, token, 1s).fetch().detail, Not(HasSubstr(token)));
}

TEST(discord_client, a_token_with_a_line_break_is_never_sent) {
  fake_discord fake;
  const auto result = discord_client(fake.api_url(), "tok\r\nX-Evil: 1", 2s).fetch();
  EXPECT_EQ(result.result, outcome::failed);
  EXPECT_EQ(fake.request_count(), 0u);
}

// -- the fake itself --------------------------------------------------------------------------

TEST(fake_discord, budget_falls_with_identify_and_refills_at_the_reset) {
  std::int64_t now = 1000;
  fake_discord fake{{.total = 2, .remaining = 2, .reset_after = 100ms, .window = 1000ms},
                    [&] { return now; }};
  EXPECT_TRUE(fake.identify());
  EXPECT_TRUE(fake.identify());
  EXPECT_FALSE(fake.identify());
  EXPECT_EQ(fake.overdrafts(), 1u);
  now = 1100;
  EXPECT_EQ(fake.remaining(), 2u);
  EXPECT_TRUE(fake.identify());
  now = 2099;
  EXPECT_EQ(fake.remaining(), 1u);
  now = 2100;
  EXPECT_EQ(fake.remaining(), 2u);
  EXPECT_EQ(fake.identifies(), 4u);
}

TEST(fake_discord, answers_401_after_an_overdraft_when_revoking_and_to_a_wrong_token) {
  fake_discord fake{{.total = 1, .remaining = 0}};
  fake.set_expected_token("right");
  EXPECT_EQ(discord_client(fake.api_url(), "wrong", 5s).fetch().result, outcome::unauthorized);
  EXPECT_EQ(discord_client(fake.api_url(), "right", 5s).fetch().result, outcome::ok);
  fake.set_revoke_on_overdraft(true);
  EXPECT_FALSE(fake.identify());
  EXPECT_EQ(discord_client(fake.api_url(), "right", 5s).fetch().result, outcome::unauthorized);
}

TEST(fake_discord, records_unknown_paths_as_404) {
  fake_discord fake;
  httplib::Client client{"127.0.0.1", fake.port()};
  const auto response = client.Get("/elsewhere");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  ASSERT_TRUE(fake.wait_for_requests(1, 5s));
  EXPECT_EQ(fake.requests()[0].path, "/elsewhere");
}

}  // namespace
}  // namespace gq
