#include "src/http/authorization.hpp"

#include <gtest/gtest.h>

namespace gq::http {
namespace {

constexpr std::string_view k_token = "s3cret-token";

TEST(bearer_matches, accepts_the_scheme_in_any_case) {
  for (const char* scheme : {"Bearer", "bearer", "BEARER", "bEaReR"}) {
    EXPECT_TRUE(bearer_matches(std::string(scheme) + " s3cret-token", k_token)) << scheme;
  }
}

TEST(bearer_matches, accepts_one_or_more_spaces_between_scheme_and_token) {
  EXPECT_TRUE(bearer_matches("Bearer  s3cret-token", k_token));
  EXPECT_TRUE(bearer_matches("bearer     s3cret-token", k_token));
}

TEST(bearer_matches, refuses_a_wrong_or_partial_token) {
  for (const char* header : {"Bearer wrong", "Bearer s3cret-toke", "Bearer s3cret-token2",
                             "Bearer S3CRET-TOKEN", "Bearer s3cret-token x"}) {
    EXPECT_FALSE(bearer_matches(header, k_token)) << header;
  }
}

TEST(bearer_matches, refuses_other_schemes_and_malformed_headers) {
  for (const char* header : {"", "Bearer", "Bearer ", "Bearers3cret-token", "Basic s3cret-token",
                             "s3cret-token", "Bearer\ts3cret-token", " Bearer s3cret-token",
                             "Bearerx s3cret-token", "Bear s3cret-token"}) {
    EXPECT_FALSE(bearer_matches(header, k_token)) << '"' << header << '"';
  }
}

TEST(bearer_matches, an_empty_expected_token_matches_nothing) {
  EXPECT_FALSE(bearer_matches("Bearer ", ""));
  EXPECT_FALSE(bearer_matches("Bearer x", ""));
}

}  // namespace
}  // namespace gq::http
