// The HTTP side of outcomes, the loop guard, the reserve and widening: the `initial` and
// POST /outcome query parsers, and the fields /status, /history and /metrics show.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/http/history_json.hpp"
#include "src/http/query.hpp"
#include "src/http/render.hpp"
#include "src/http/response.hpp"

namespace gq {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string error_of(const std::variant<http::outcome_query, http::query_error>& parsed) {
  const auto* error = std::get_if<http::query_error>(&parsed);
  return error ? error->message : "";
}

TEST(parse_initial, true_false_or_absent_and_nothing_else) {
  EXPECT_EQ(std::get<bool>(http::parse_initial("shard=1&initial=true")), true);
  EXPECT_EQ(std::get<bool>(http::parse_initial("initial=false")), false);
  EXPECT_EQ(std::get<bool>(http::parse_initial("shard=1")), false);
  EXPECT_EQ(std::get<bool>(http::parse_initial("initial=true&initial=true")), true);
  for (const char* bad :
       {"initial=1", "initial=", "initial=TRUE", "initial=true&initial=false", "initial=%zz"}) {
    EXPECT_TRUE(std::holds_alternative<http::query_error>(http::parse_initial(bad))) << bad;
  }
}

TEST(parse_outcome, takes_shard_result_and_a_close_code) {
  const auto parsed =
      std::get<http::outcome_query>(http::parse_outcome("shard=7&result=closed&code=4004"));
  EXPECT_EQ(parsed.shard, 7u);
  EXPECT_EQ(parsed.result, outcome_result::closed);
  EXPECT_EQ(parsed.code, 4004u);
  const auto ready = std::get<http::outcome_query>(http::parse_outcome("result=ready&shard=0"));
  EXPECT_EQ(ready.result, outcome_result::ready);
  EXPECT_EQ(ready.code, std::nullopt);
  EXPECT_EQ(
      std::get<http::outcome_query>(http::parse_outcome("shard=1&result=invalid_session")).result,
      outcome_result::invalid_session);
}

TEST(parse_outcome, refuses_what_is_missing_or_malformed) {
  EXPECT_EQ(error_of(http::parse_outcome("result=ready")), "shard is required");
  EXPECT_THAT(error_of(http::parse_outcome("shard=x&result=ready")), HasSubstr("shard must be"));
  EXPECT_THAT(error_of(http::parse_outcome("shard=1")), HasSubstr("result must be"));
  EXPECT_THAT(error_of(http::parse_outcome("shard=1&result=READY")), HasSubstr("result must be"));
  EXPECT_THAT(error_of(http::parse_outcome("shard=1&result=ready&result=closed")),
              HasSubstr("twice"));
  EXPECT_EQ(error_of(http::parse_outcome("shard=1&result=ready&code=4000")),
            "code goes only with result=closed");
  EXPECT_THAT(error_of(http::parse_outcome("shard=1&result=closed&code=65536")),
              HasSubstr("0 to 65535"));
  EXPECT_THAT(error_of(http::parse_outcome("shard=1&result=closed&code=-1")),
              HasSubstr("0 to 65535"));
}

TEST(no_content, has_no_body_type_or_length) {
  const auto bytes = http::serialize(http::no_content(), true);
  EXPECT_THAT(bytes, HasSubstr("HTTP/1.1 204 No Content\r\n"));
  EXPECT_THAT(bytes, Not(HasSubstr("Content-Length")));
  EXPECT_THAT(bytes, Not(HasSubstr("Content-Type")));
  EXPECT_TRUE(bytes.ends_with("\r\n\r\n"));
}

queue_status widened_status() {
  queue_status status;
  status.identify_interval_ms = 5000;
  status.ledger.limits_known = true;
  status.ledger.shard_hourly_limit = 12;
  status.ledger.looping = {{9, 1'800'000'000'000}};
  status.ledger.reserve = 50;
  bucket_status wide;
  wide.bucket = 0;
  wide.interval_ms = 6000;
  wide.invalid_sessions = 2;
  wide.last_outcomes = {{4, {outcome_result::closed, 4004, 1300}, 300}};
  bucket_status plain;
  plain.bucket = 1;
  plain.interval_ms = 5000;
  status.buckets = {wide, plain};
  status.max_concurrency = 2;
  return status;
}

TEST(render_status_json, shows_spacing_outcomes_looping_shards_and_the_reserve) {
  const auto body = nlohmann::json::parse(render_status_json(widened_status(), {}, "default"));
  EXPECT_EQ(body["shard_hourly_limit"], 12);
  EXPECT_EQ(body["reserve"], 50);
  EXPECT_EQ(body["looping"], nlohmann::json::parse(R"([{"shard":9,"until":1800000000000}])"));
  EXPECT_EQ(body["buckets"][0]["interval_ms"], 6000);
  EXPECT_EQ(body["buckets"][0]["invalid_sessions"], 2);
  EXPECT_EQ(
      body["buckets"][0]["last_outcomes"],
      nlohmann::json::parse(R"([{"shard":4,"result":"closed","code":4004,"outcome_ms":300}])"));
  EXPECT_EQ(body["buckets"][1]["last_outcomes"], nlohmann::json::array());
}

TEST(render_metrics, counts_outcomes_and_shows_spacing_looping_and_reserve) {
  edge_counters edge;
  edge.count(outcome_result::invalid_session);
  edge.count(rejection::looping);
  const auto status = widened_status();
  const bot_metrics bot{"default", &status, 0};
  const auto text = render_metrics({&bot, 1}, &edge, 0);
  EXPECT_THAT(text, HasSubstr("gateway_queue_outcomes_total{result=\"invalid_session\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gateway_queue_outcomes_total{result=\"ready\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("gateway_queue_bucket_interval_seconds{bot=\"default\",bucket=\"0\"} 6\n"));
  EXPECT_THAT(text,
              HasSubstr("gateway_queue_bucket_interval_seconds{bot=\"default\",bucket=\"1\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("gateway_queue_widened_buckets{bot=\"default\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gateway_queue_looping_shards{bot=\"default\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gateway_queue_reserve_sessions{bot=\"default\"} 50\n"));
  EXPECT_THAT(text, HasSubstr("gateway_queue_rejections_total{reason=\"looping\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gateway_queue_rejections_total{reason=\"reserve\"} 0\n"));
}

TEST(history_json, shows_an_outcome_and_how_long_after_the_grant_it_came) {
  release_record reported{1000, 3, 0, 1, 0};
  reported.outcome = grant_outcome{outcome_result::invalid_session, std::nullopt, 1250};
  const auto json = http::history_json({reported, release_record{900, 2, 0, 1, 0}});
  EXPECT_EQ(json["releases"][0]["outcome"], "invalid_session");
  EXPECT_EQ(json["releases"][0]["outcome_ms"], 250);
  EXPECT_TRUE(json["releases"][0]["outcome_code"].is_null());
  EXPECT_TRUE(json["releases"][1]["outcome"].is_null());
  EXPECT_TRUE(json["releases"][1]["outcome_ms"].is_null());
}

}  // namespace
}  // namespace gq
