// The body of GET /history (and of `gateway-queue history`), rendered from journal records.
#include "src/http/history_json.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gq::http {
namespace {

TEST(history_json, matches_the_history_endpoint_format) {
  const nlohmann::json json = history_json(
      {release_record{1700000000123, 42, 2, 16, 5000}, release_record{1700000000000, {}, 0, 1, 0}});
  EXPECT_EQ(json, nlohmann::json::parse(R"({"releases": [
      {"released_at": 1700000000123, "shard": 42, "bucket": 2, "max_concurrency": 16,
       "waited_ms": 5000, "outcome": null, "outcome_code": null, "outcome_ms": null,
       "bot": "default"},
      {"released_at": 1700000000000, "shard": null, "bucket": 0, "max_concurrency": 1,
       "waited_ms": 0, "outcome": null, "outcome_code": null, "outcome_ms": null,
       "bot": "default"}]})"));
  EXPECT_EQ(history_json({}).dump(), R"({"releases":[]})");
}

TEST(history_json, largest_shard_is_rendered_exactly) {
  const auto json = history_json({release_record{1, k_max_stored_integer, 0, 1, 0}});
  EXPECT_EQ(json["releases"][0]["shard"].get<std::uint64_t>(), k_max_stored_integer);
}

}  // namespace
}  // namespace gq::http
