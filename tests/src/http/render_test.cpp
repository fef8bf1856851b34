// The grant body is built by hand for speed: it must stay the JSON a tree would give.
#include "src/http/render.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gq {
namespace {

TEST(render_grant, matches_the_json_of_a_tree) {
  const nlohmann::json expected{{"message", "You're free to connect now! :)"},
                                {"bucket", 17},
                                {"waited_ms", 123456},
                                {"shard", 4113}};
  EXPECT_EQ(render_grant(17, 123456, 4113), expected.dump());
}

TEST(render_grant, a_request_without_shard_gets_null) {
  const auto body = nlohmann::json::parse(render_grant(0, 0, shard_id{}));
  EXPECT_TRUE(body.at("shard").is_null());
  EXPECT_EQ(body.at("message"), "You're free to connect now! :)");
}

TEST(render_grant, extreme_values_stay_valid_json) {
  const auto body =
      nlohmann::json::parse(render_grant(4294967295u, 9223372036854775807, 9223372036854775807ull));
  EXPECT_EQ(body.at("bucket"), 4294967295u);
  EXPECT_EQ(body.at("waited_ms"), 9223372036854775807);
  EXPECT_EQ(body.at("shard"), 9223372036854775807ull);
}

TEST(render_status_json, shows_drain_times_and_where_an_asked_shard_stands) {
  queue_status status;
  status.max_concurrency = 4;
  status.ledger.limits_known = true;
  bucket_status idle;
  idle.bucket = 0;
  bucket_status busy;
  busy.bucket = 1;
  busy.waiting = 3;
  busy.drain = {true, 1'800'000'009'000, {}};
  status.buckets = {idle, busy};
  auto body = nlohmann::json::parse(render_status_json(status, {}, "default"));
  EXPECT_FALSE(body.contains("shard")) << "not asked";
  EXPECT_TRUE(body["buckets"][0]["drain_at"].is_null());
  EXPECT_FALSE(body["buckets"][0].contains("drain_unknown"));
  EXPECT_EQ(body["buckets"][1]["drain_at"], 1'800'000'009'000);

  status.shard = 9;
  status.shard_position = 2;
  status.shard_eta = {true, 1'800'000'004'000, {}};
  body = nlohmann::json::parse(render_status_json(status, {}, "default"));
  EXPECT_EQ(body["shard"]["shard"], 9);
  EXPECT_EQ(body["shard"]["bucket"], 1);
  EXPECT_EQ(body["shard"]["state"], "waiting");
  EXPECT_EQ(body["shard"]["position"], 2);
  EXPECT_EQ(body["shard"]["estimated_grant_at"], 1'800'000'004'000);

  status.shard_eta = {false, 0, "limits not known yet"};
  status.buckets[1].drain = {false, 0, "limits not known yet"};
  body = nlohmann::json::parse(render_status_json(status, {}, "default"));
  EXPECT_TRUE(body["shard"]["estimated_grant_at"].is_null());
  EXPECT_EQ(body["shard"]["estimate_unknown"], "limits not known yet");
  EXPECT_EQ(body["buckets"][1]["drain_unknown"], "limits not known yet");

  status.shard_position = 0;
  status.shard_eta = {false, 0, "not waiting"};
  body = nlohmann::json::parse(render_status_json(status, {}, "default"));
  EXPECT_EQ(body["shard"]["state"], "not waiting");
  EXPECT_TRUE(body["shard"]["position"].is_null());
  EXPECT_FALSE(body["shard"].contains("estimate_unknown"));
}

TEST(render_status_json, a_standby_says_where_an_asked_shard_stands_and_that_it_calls_no_discord) {
  queue_status status;
  status.shard = 9;
  edge_counters standby;
  standby.active = false;
  const auto body = nlohmann::json::parse(render_status_json(status, standby, "default"));
  EXPECT_EQ(body["active"], false);
  EXPECT_EQ(body["discord"], "standby");
  ASSERT_TRUE(body.contains("shard")) << body.dump();
  EXPECT_EQ(body["shard"]["shard"], 9);
  EXPECT_TRUE(body["shard"]["bucket"].is_null()) << "a standby knows no max_concurrency";
  EXPECT_EQ(body["shard"]["state"], "not waiting");
  EXPECT_TRUE(body["shard"]["estimated_grant_at"].is_null());
  EXPECT_EQ(body["shard"]["estimate_unknown"], "this queue is a standby: ask the active one");
}

TEST(render_status_json, discord_agrees_with_the_discord_up_metric) {
  queue_status status;
  status.ledger.discord_up = true;
  EXPECT_EQ(nlohmann::json::parse(render_status_json(status, {}, "default"))["discord"], "ok");
  status.ledger.discord_up = false;
  EXPECT_EQ(nlohmann::json::parse(render_status_json(status, {}, "default"))["discord"], "failing");
  status.ledger.discord_stopped = true;
  EXPECT_EQ(nlohmann::json::parse(render_status_json(status, {}, "default"))["discord"],
            "token_rejected");
}

}  // namespace
}  // namespace gq
