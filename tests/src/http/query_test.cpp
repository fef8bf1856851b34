#include "src/http/query.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gq::http {
namespace {

using testing::HasSubstr;
using values = std::vector<std::string>;

values values_of(std::string_view query, std::string_view key) {
  auto result = query_values(query, key);
  if (auto* error = std::get_if<query_error>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->message;
    return {};
  }
  return std::get<values>(result);
}

std::string error_of(const auto& result) {
  if (const auto* error = std::get_if<query_error>(&result)) return error->message;
  ADD_FAILURE() << "expected an error";
  return {};
}

shard_id shard_of(std::string_view query) {
  auto result = parse_shard(query);
  if (auto* error = std::get_if<query_error>(&result)) {
    ADD_FAILURE() << "unexpected error for '" << query << "': " << error->message;
    return std::nullopt;
  }
  return std::get<shard_id>(result);
}

history_filter filter_of(std::string_view query) {
  auto result = parse_history_filter(query);
  if (auto* error = std::get_if<query_error>(&result)) {
    ADD_FAILURE() << "unexpected error for '" << query << "': " << error->message;
    return {};
  }
  return std::get<history_filter>(result);
}

// --- query_values

TEST(query_values, returns_every_value_of_the_key_in_order) {
  EXPECT_EQ(values_of("a=1&b=2&a=3", "a"), (values{"1", "3"}));
  EXPECT_EQ(values_of("a=1&b=2&a=3", "b"), (values{"2"}));
  EXPECT_EQ(values_of("a=1", "c"), values{});
  EXPECT_EQ(values_of("", "a"), values{});
}

TEST(query_values, key_without_equals_has_an_empty_value) {
  EXPECT_EQ(values_of("a&b=2", "a"), (values{""}));
  EXPECT_EQ(values_of("a=", "a"), (values{""}));
}

TEST(query_values, empty_parameters_are_skipped) {
  EXPECT_EQ(values_of("&&a=1&&", "a"), (values{"1"}));
}

TEST(query_values, value_is_split_at_the_first_equals_only) {
  EXPECT_EQ(values_of("a=b=c", "a"), (values{"b=c"}));
}

TEST(query_values, values_are_percent_decoded_with_plus_as_space) {
  EXPECT_EQ(values_of("a=%41%62+c%2B%2b%26", "a"), (values{"Ab c++&"}));
}

TEST(query_values, names_are_percent_decoded_too) {
  EXPECT_EQ(values_of("sh%61rd=5", "shard"), (values{"5"}));
}

TEST(query_values, malformed_escape_in_the_value_is_an_error_naming_the_key) {
  for (const char* query : {"shard=%G1", "shard=%4", "shard=%", "shard=1%zz", "x=1&shard=%%31"}) {
    const auto message = error_of(query_values(query, "shard"));
    EXPECT_THAT(message, HasSubstr("shard")) << query;
    EXPECT_THAT(message, HasSubstr("percent-encoding")) << query;
  }
}

TEST(query_values, malformed_escape_in_another_parameter_is_ignored) {
  EXPECT_EQ(values_of("x=%G1&shard=2&%zz=1", "shard"), (values{"2"}));
}

// --- parse_non_negative

TEST(parse_non_negative, accepts_plain_decimal_integers) {
  EXPECT_EQ(parse_non_negative("0"), 0U);
  EXPECT_EQ(parse_non_negative("7"), 7U);
  EXPECT_EQ(parse_non_negative("1234567890"), 1234567890U);
}

TEST(parse_non_negative, leading_zeros_are_allowed) {
  EXPECT_EQ(parse_non_negative("007"), 7U);
  EXPECT_EQ(parse_non_negative("0000"), 0U);
  EXPECT_EQ(parse_non_negative("0000000000000000000000001"), 1U);
  EXPECT_EQ(parse_non_negative("000000000009223372036854775807"), 9223372036854775807U);
}

TEST(parse_non_negative, largest_value_is_two_to_the_63_minus_one) {
  EXPECT_EQ(parse_non_negative("9223372036854775807"), 9223372036854775807U);
  EXPECT_EQ(parse_non_negative("9223372036854775808"), std::nullopt);
  EXPECT_EQ(parse_non_negative("9999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_non_negative("18446744073709551615"), std::nullopt);
  EXPECT_EQ(parse_non_negative("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_non_negative("100000000000000000000000"), std::nullopt);
}

TEST(parse_non_negative, anything_but_digits_is_rejected) {
  for (const char* text : {"", "-1", "+1", " 1", "1 ", "1.5", "1e3", "0x10", "abc", "1_000"}) {
    EXPECT_EQ(parse_non_negative(text), std::nullopt) << text;
  }
  EXPECT_EQ(parse_non_negative(std::string_view("1\0", 2)), std::nullopt);
}

// --- parse_shard

TEST(parse_shard, absent_shard_is_none) {
  EXPECT_EQ(shard_of(""), shard_id{});
  EXPECT_EQ(shard_of("other=1&shards=2"), shard_id{});
}

TEST(parse_shard, valid_shard_is_parsed) {
  EXPECT_EQ(shard_of("shard=0"), 0U);
  EXPECT_EQ(shard_of("a=b&shard=42&c"), 42U);
  EXPECT_EQ(shard_of("shard=9223372036854775807"), 9223372036854775807U);
  EXPECT_EQ(shard_of("shard=0000000000000000000000001"), 1U);
}

TEST(parse_shard, same_value_given_twice_is_accepted) {
  EXPECT_EQ(shard_of("shard=3&shard=3"), 3U);
  EXPECT_EQ(shard_of("shard=3&shard=03"), 3U);
}

TEST(parse_shard, shard_given_twice_with_different_values_is_rejected) {
  EXPECT_EQ(error_of(parse_shard("shard=3&shard=4")), "shard given twice with different values");
}

TEST(parse_shard, percent_encoded_digits_are_decoded) { EXPECT_EQ(shard_of("shard=%31%32"), 12U); }

class parse_shard_malformed : public testing::TestWithParam<const char*> {};

TEST_P(parse_shard_malformed, is_rejected_with_the_range_message) {
  EXPECT_EQ(error_of(parse_shard(GetParam())),
            "shard must be a decimal integer from 0 to 9223372036854775807");
}

INSTANTIATE_TEST_SUITE_P(values, parse_shard_malformed,
                         testing::Values("shard=", "shard", "shard=-1", "shard=1.5", "shard=abc",
                                         "shard=%2B1", "shard=+1", "shard=%201", "shard=1e3",
                                         "shard=0x10", "shard=123456789012345678901234",
                                         "shard=9223372036854775808", "shard=18446744073709551616",
                                         "shard=1%00", "shard=3&shard=x"));

TEST(parse_shard, malformed_escape_is_rejected_naming_shard) {
  EXPECT_THAT(error_of(parse_shard("shard=%G1")), HasSubstr("shard"));
  EXPECT_THAT(error_of(parse_shard("shard=%4")), HasSubstr("shard"));
}

// --- parse_history_filter

TEST(parse_history_filter, empty_query_gives_the_defaults) {
  const auto filter = filter_of("");
  EXPECT_EQ(filter.shard, std::nullopt);
  EXPECT_EQ(filter.since, std::nullopt);
  EXPECT_EQ(filter.until, std::nullopt);
  EXPECT_EQ(filter.limit, 100U);
}

TEST(parse_history_filter, all_filters_are_parsed) {
  const auto filter = filter_of("shard=5&since=1700000000000&until=1700000001000&limit=25&x=y");
  EXPECT_EQ(filter.shard, 5U);
  EXPECT_EQ(filter.since, 1700000000000);
  EXPECT_EQ(filter.until, 1700000001000);
  EXPECT_EQ(filter.limit, 25U);
}

TEST(parse_history_filter, limit_bounds_are_inclusive) {
  EXPECT_EQ(filter_of("limit=1").limit, 1U);
  EXPECT_EQ(filter_of("limit=10000").limit, 10000U);
}

TEST(parse_history_filter, limit_outside_1_to_10000_is_rejected) {
  for (const char* query : {"limit=0", "limit=10001", "limit=99999999999999999999", "limit=-5",
                            "limit=", "limit=ten"}) {
    EXPECT_EQ(error_of(parse_history_filter(query)), "limit must be between 1 and 10000") << query;
  }
}

TEST(parse_history_filter, since_equal_to_until_is_accepted) {
  const auto filter = filter_of("since=5&until=5");
  EXPECT_EQ(filter.since, 5);
  EXPECT_EQ(filter.until, 5);
}

TEST(parse_history_filter, since_after_until_is_rejected) {
  EXPECT_EQ(error_of(parse_history_filter("since=6&until=5")), "since must not be after until");
}

TEST(parse_history_filter, since_and_until_follow_the_integer_rules) {
  EXPECT_EQ(filter_of("until=9223372036854775807").until, 9223372036854775807);
  for (const char* query : {"since=-1", "since=1.5", "until=9223372036854775808", "since="}) {
    const auto message = error_of(parse_history_filter(query));
    EXPECT_THAT(message, HasSubstr(std::string(query).substr(0, 5))) << query;
    EXPECT_THAT(message, HasSubstr("unix time in milliseconds")) << query;
  }
}

TEST(parse_history_filter, malformed_shard_is_rejected) {
  EXPECT_EQ(error_of(parse_history_filter("shard=x")),
            "shard must be a decimal integer from 0 to 9223372036854775807");
}

TEST(parse_history_filter, repeated_filters_with_different_values_are_rejected) {
  EXPECT_EQ(error_of(parse_history_filter("limit=5&limit=6")),
            "limit given twice with different values");
  EXPECT_EQ(error_of(parse_history_filter("since=1&since=2")),
            "since given twice with different values");
  EXPECT_EQ(filter_of("until=7&until=7").until, 7);
}

TEST(parse_history_filter, malformed_escape_in_a_filter_is_rejected) {
  EXPECT_THAT(error_of(parse_history_filter("since=%G1")), HasSubstr("since"));
}

}  // namespace
}  // namespace gq::http
