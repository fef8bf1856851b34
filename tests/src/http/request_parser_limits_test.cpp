// Bodies, limits and malformed input: everything a client may send that the queue must refuse or
// step over without keeping it.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "src/http/request_parser.hpp"

namespace gq::http {
namespace {

using state = request_parser::state;

constexpr request_limits k_small_limits{.max_url = 64, .max_header_bytes = 128, .max_body = 16};

request_parser::state feed_byte_by_byte(request_parser& parser, std::string_view input) {
  for (std::size_t i = 0; i < input.size(); ++i) {
    const auto result = parser.feed(input.substr(i, 1));
    if (result.status != state::need_more) return result.status;
  }
  return state::need_more;
}

// --- bodies

TEST(request_parser_body, content_length_body_is_skipped_and_the_next_request_parses) {
  const std::string first = "POST /?shard=4 HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world";
  const std::string input = first + "GET /status HTTP/1.1\r\n\r\n";
  request_parser parser;
  const auto result = parser.feed(input);
  ASSERT_EQ(result.status, state::complete);
  EXPECT_EQ(result.consumed, first.size());
  EXPECT_EQ(parser.current().method, "POST");
  EXPECT_EQ(parser.current().query, "shard=4");
  parser.next();
  ASSERT_EQ(parser.feed(std::string_view(input).substr(first.size())).status, state::complete);
  EXPECT_EQ(parser.current().path, "/status");
}

TEST(request_parser_body, content_length_body_still_arriving_needs_more) {
  request_parser parser;
  ASSERT_EQ(parser.feed("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab").status, state::need_more);
  ASSERT_EQ(parser.feed("cd").status, state::complete);
}

TEST(request_parser_body, chunked_body_is_skipped_and_the_next_request_parses) {
  const std::string first =
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  const std::string input = first + "GET /b HTTP/1.1\r\n\r\n";
  request_parser parser;
  const auto result = parser.feed(input);
  ASSERT_EQ(result.status, state::complete);
  EXPECT_EQ(result.consumed, first.size());
  EXPECT_EQ(parser.current().path, "/a");
  parser.next();
  ASSERT_EQ(parser.feed(std::string_view(input).substr(first.size())).status, state::complete);
  EXPECT_EQ(parser.current().path, "/b");
}

TEST(request_parser_body, chunked_body_fed_byte_by_byte_completes) {
  request_parser parser;
  EXPECT_EQ(feed_byte_by_byte(parser,
                              "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3\r\nabc\r\n0\r\n\r\n"),
            state::complete);
}

TEST(request_parser_body, body_at_the_limit_is_accepted) {
  request_parser parser(k_small_limits);
  EXPECT_EQ(parser.feed("POST / HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef").status,
            state::complete);
}

// --- limits

TEST(request_parser_limits, url_at_max_url_is_accepted) {
  request_parser parser(k_small_limits);
  const std::string url = "/" + std::string(63, 'a');
  EXPECT_EQ(parser.feed("GET " + url + " HTTP/1.1\r\n\r\n").status, state::complete);
}

TEST(request_parser_limits, url_longer_than_max_url_is_414) {
  request_parser parser(k_small_limits);
  const std::string url = "/?shard=1&pad=" + std::string(64, 'a');
  EXPECT_EQ(parser.feed("GET " + url + " HTTP/1.1\r\n\r\n").status, state::failed);
  EXPECT_EQ(parser.error_status(), 414);
}

TEST(request_parser_limits, url_longer_than_max_url_fed_byte_by_byte_is_414) {
  request_parser parser(k_small_limits);
  EXPECT_EQ(feed_byte_by_byte(parser, "GET /" + std::string(100, 'a')), state::failed);
  EXPECT_EQ(parser.error_status(), 414);
}

TEST(request_parser_limits, default_url_limit_is_8_kib) {
  request_parser parser;
  EXPECT_EQ(parser.feed("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n").status,
            state::failed);
  EXPECT_EQ(parser.error_status(), 414);
}

TEST(request_parser_limits, many_headers_over_max_header_bytes_is_431) {
  request_parser parser(k_small_limits);
  std::string input = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 20; ++i) input += "X-Header-" + std::to_string(i) + ": value\r\n";
  EXPECT_EQ(parser.feed(input + "\r\n").status, state::failed);
  EXPECT_EQ(parser.error_status(), 431);
}

TEST(request_parser_limits, one_long_authorization_over_max_header_bytes_is_431) {
  request_parser parser(k_small_limits);
  const std::string input =
      "GET / HTTP/1.1\r\nAuthorization: Bearer " + std::string(200, 't') + "\r\n\r\n";
  EXPECT_EQ(feed_byte_by_byte(parser, input), state::failed);
  EXPECT_EQ(parser.error_status(), 431);
}

TEST(request_parser_limits, headers_just_under_max_header_bytes_are_accepted) {
  request_parser parser(k_small_limits);
  // Name and value bytes count: 1 + 127 = 128.
  EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\nX: " + std::string(127, 'v') + "\r\n\r\n").status,
            state::complete);
}

TEST(request_parser_limits, default_header_limit_is_16_kib) {
  request_parser parser;
  EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\nX: " + std::string(17 * 1024, 'v') + "\r\n\r\n").status,
            state::failed);
  EXPECT_EQ(parser.error_status(), 431);
}

TEST(request_parser_limits, huge_header_name_in_one_feed_is_431_not_414) {
  request_parser parser;
  EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\n" + std::string(100 * 1024, 'X') + ": y\r\n\r\n").status,
            state::failed);
  EXPECT_EQ(parser.error_status(), 431);
}

TEST(request_parser_limits, huge_url_in_one_feed_is_414) {
  request_parser parser;
  EXPECT_EQ(parser.feed("GET /" + std::string(100 * 1024, 'a') + " HTTP/1.1\r\n\r\n").status,
            state::failed);
  EXPECT_EQ(parser.error_status(), 414);
}

TEST(request_parser_limits, declared_content_length_over_max_body_is_413_before_the_body) {
  request_parser parser(k_small_limits);
  EXPECT_EQ(parser.feed("POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n").status, state::failed);
  EXPECT_EQ(parser.error_status(), 413);
}

TEST(request_parser_limits, chunked_body_over_max_body_is_413) {
  request_parser parser(k_small_limits);
  const std::string input =
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n";
  EXPECT_EQ(feed_byte_by_byte(parser, input), state::failed);
  EXPECT_EQ(parser.error_status(), 413);
}

TEST(request_parser_limits, content_length_far_over_max_body_is_413) {
  request_parser parser;
  EXPECT_EQ(parser.feed("POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n").status,
            state::failed);
  EXPECT_EQ(parser.error_status(), 413);
}

TEST(request_parser_limits, limits_apply_to_each_request_not_the_connection) {
  request_parser parser(k_small_limits);
  const std::string request = "GET / HTTP/1.1\r\nX: " + std::string(100, 'v') + "\r\n\r\n";
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(parser.feed(request).status, state::complete) << i;
    parser.next();
  }
}

TEST(request_parser_limits, parser_object_stays_small) {
  // 19,000 waiting connections at <= 1 KiB each; the parser is only part of a connection.
  EXPECT_LE(sizeof(request_parser), 384U);
}

// --- malformed input

class request_parser_garbage : public testing::TestWithParam<std::string_view> {};

TEST_P(request_parser_garbage, is_400_malformed_request) {
  request_parser parser;
  EXPECT_EQ(parser.feed(GetParam()).status, state::failed);
  EXPECT_EQ(parser.error_status(), 400);
  EXPECT_EQ(parser.error_reason(), "malformed request");
}

INSTANTIATE_TEST_SUITE_P(
    inputs, request_parser_garbage,
    testing::Values(std::string_view("hello\r\n\r\n"), std::string_view("\x16\x03\x01\x02\x00", 5),
                    "GET\r\n\r\n", "GET / FTP/1.1\r\n\r\n", "GET / HTTP/1.1 extra\r\n\r\n",
                    "GET /a b HTTP/1.1\r\n\r\n", "GET * HTTP/1.1\r\n\r\n",
                    "OPTIONS * HTTP/1.1\r\n\r\n", "GET http://host/x HTTP/1.1\r\n\r\n",
                    "CONNECT host:443 HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
                    "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
                    "GET / HTTP/1.1\r\nAuthorization : x\r\n\r\n",
                    "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                    "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
                    "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));

TEST(request_parser_garbage_bytes, garbage_fed_byte_by_byte_is_400) {
  request_parser parser;
  EXPECT_EQ(feed_byte_by_byte(parser, "NOT HTTP AT ALL\r\n\r\n"), state::failed);
  EXPECT_EQ(parser.error_status(), 400);
}

TEST(request_parser_garbage_bytes, failed_parser_keeps_failing) {
  request_parser parser;
  ASSERT_EQ(parser.feed("junk junk\r\n").status, state::failed);
  const auto result = parser.feed("GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(result.status, state::failed);
  EXPECT_EQ(result.consumed, 0U);
  parser.next();  // a caller that ignores the failure must not revive the connection
  EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\n\r\n").status, state::failed);
  EXPECT_EQ(parser.error_status(), 400);
}

}  // namespace
}  // namespace gq::http
