// The grant body is built by hand for speed: it must stay the JSON a tree would give.
#include "actors/render.hpp"

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
  const auto body = nlohmann::json::parse(render_grant(0, 0, k_no_shard));
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

}  // namespace
}  // namespace gq
