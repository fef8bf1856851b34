#include "src/http/request_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace gq::http {
namespace {

using state = request_parser::state;

// Feeds `input` in pieces of `piece` bytes (0: all at once) until the parser stops asking for
// more. Returns the final state and the total number of bytes consumed.
request_parser::feed_result feed_in_pieces(request_parser& parser, std::string_view input,
                                           std::size_t piece = 0) {
  if (piece == 0) piece = input.size();
  std::size_t consumed = 0;
  while (consumed < input.size()) {
    const auto chunk = input.substr(consumed, piece);
    const auto result = parser.feed(chunk);
    consumed += result.consumed;
    if (result.status != state::need_more) return {result.status, consumed};
    EXPECT_EQ(result.consumed, chunk.size()) << "need_more must consume everything it was given";
  }
  return {state::need_more, consumed};
}

constexpr std::string_view k_full_request =
    "GET /gateway?shard=17&x=%20y HTTP/1.1\r\n"
    "Host: queue:5000\r\n"
    "Authorization: Bearer s3cret-token\r\n"
    "User-Agent: twilight\r\n"
    "\r\n";

void expect_full_request(const request& r) {
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/gateway");
  EXPECT_EQ(r.query, "shard=17&x=%20y");
  EXPECT_EQ(r.authorization, "Bearer s3cret-token");
  EXPECT_TRUE(r.keep_alive);
}

TEST(request_parser, simple_get_completes_with_method_path_and_query) {
  request_parser parser;
  const auto result = parser.feed(k_full_request);
  ASSERT_EQ(result.status, state::complete);
  EXPECT_EQ(result.consumed, k_full_request.size());
  expect_full_request(parser.current());
}

TEST(request_parser, request_without_query_has_empty_query) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET /status HTTP/1.1\r\n\r\n").status, state::complete);
  EXPECT_EQ(parser.current().path, "/status");
  EXPECT_EQ(parser.current().query, "");
  EXPECT_EQ(parser.current().authorization, "");
}

TEST(request_parser, path_keeps_percent_encoding_as_sent) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET /a%2Fb?q HTTP/1.1\r\n\r\n").status, state::complete);
  EXPECT_EQ(parser.current().path, "/a%2Fb");
  EXPECT_EQ(parser.current().query, "q");
}

TEST(request_parser, byte_by_byte_feeding_yields_the_same_request) {
  request_parser parser;
  const auto result = feed_in_pieces(parser, k_full_request, 1);
  ASSERT_EQ(result.status, state::complete);
  EXPECT_EQ(result.consumed, k_full_request.size());
  expect_full_request(parser.current());
}

TEST(request_parser, request_split_at_any_point_yields_the_same_request) {
  for (std::size_t split = 1; split < k_full_request.size(); ++split) {
    request_parser parser;
    ASSERT_EQ(parser.feed(k_full_request.substr(0, split)).status, state::need_more) << split;
    const auto result = parser.feed(k_full_request.substr(split));
    ASSERT_EQ(result.status, state::complete) << split;
    EXPECT_EQ(result.consumed, k_full_request.size() - split);
    expect_full_request(parser.current());
  }
}

TEST(request_parser, request_split_across_many_feeds_yields_the_same_request) {
  for (std::size_t piece : {2, 3, 5, 7, 11}) {
    request_parser parser;
    ASSERT_EQ(feed_in_pieces(parser, k_full_request, piece).status, state::complete) << piece;
    expect_full_request(parser.current());
  }
}

TEST(request_parser, empty_feed_needs_more_and_consumes_nothing) {
  request_parser parser;
  const auto result = parser.feed("");
  EXPECT_EQ(result.status, state::need_more);
  EXPECT_EQ(result.consumed, 0U);
  ASSERT_EQ(parser.feed("GET / HTTP/1.1\r\n\r\n").status, state::complete);
}

TEST(request_parser, authorization_header_name_is_case_insensitive) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET / HTTP/1.1\r\naUtHoRiZaTiOn: Bearer x\r\n\r\n").status,
            state::complete);
  EXPECT_EQ(parser.current().authorization, "Bearer x");
}

TEST(request_parser, authorization_trailing_whitespace_is_trimmed) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET / HTTP/1.1\r\nAuthorization:   Bearer x \t\r\n\r\n").status,
            state::complete);
  EXPECT_EQ(parser.current().authorization, "Bearer x");
}

TEST(request_parser, headers_that_only_resemble_authorization_are_not_captured) {
  request_parser parser;
  ASSERT_EQ(parser
                .feed("GET / HTTP/1.1\r\nX-Authorization: a\r\nAuthorization-X: b\r\n"
                      "Authorizatio: c\r\n\r\n")
                .status,
            state::complete);
  EXPECT_EQ(parser.current().authorization, "");
}

TEST(request_parser, authorization_name_and_value_split_across_feeds_are_captured) {
  const std::vector<std::string_view> pieces = {"GET / HTTP/1.1\r\nX-A: 1\r\nAuthori",
                                                "zat",
                                                "ion",
                                                ": Bea",
                                                "rer to",
                                                "ken\r\nX-B: 2\r",
                                                "\n\r\n"};
  request_parser parser;
  for (std::size_t i = 0; i + 1 < pieces.size(); ++i) {
    ASSERT_EQ(parser.feed(pieces[i]).status, state::need_more) << i;
  }
  ASSERT_EQ(parser.feed(pieces.back()).status, state::complete);
  EXPECT_EQ(parser.current().authorization, "Bearer token");
}

TEST(request_parser, empty_header_value_before_authorization_does_not_confuse_capture) {
  request_parser parser;
  ASSERT_EQ(
      parser.feed("GET / HTTP/1.1\r\nX-Empty:\r\nAuthorization: Bearer y\r\nX-C: z\r\n\r\n").status,
      state::complete);
  EXPECT_EQ(parser.current().authorization, "Bearer y");
}

TEST(request_parser, authorization_given_twice_is_rejected) {
  request_parser parser;
  const auto result =
      parser.feed("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n");
  ASSERT_EQ(result.status, state::failed);
  EXPECT_EQ(parser.error_status(), 400);
}

TEST(request_parser, authorization_in_a_chunked_trailer_is_ignored) {
  request_parser parser;
  ASSERT_EQ(parser
                .feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\nAuthorization: Bearer sneaky\r\n\r\n")
                .status,
            state::complete);
  EXPECT_EQ(parser.current().authorization, "");
}

TEST(request_parser, method_is_reported_and_otherwise_ignored) {
  request_parser parser;
  ASSERT_EQ(parser.feed("DELETE /x HTTP/1.1\r\n\r\n").status, state::complete);
  EXPECT_EQ(parser.current().method, "DELETE");
  EXPECT_EQ(parser.current().path, "/x");
}

TEST(request_parser, upgrade_request_is_an_ordinary_request) {
  // Headers are ignored: a WebSocket upgrade to the queue is a queue request like any other.
  const std::string first =
      "GET /?shard=1 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  const std::string input = first + "GET /b HTTP/1.1\r\n\r\n";
  request_parser parser;
  const auto result = parser.feed(input);
  ASSERT_EQ(result.status, state::complete);
  EXPECT_EQ(result.consumed, first.size());
  EXPECT_EQ(parser.current().query, "shard=1");
  parser.next();
  ASSERT_EQ(parser.feed(std::string_view(input).substr(first.size())).status, state::complete);
  EXPECT_EQ(parser.current().path, "/b");
}

// --- keep-alive

TEST(request_parser, http11_defaults_to_keep_alive) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET / HTTP/1.1\r\n\r\n").status, state::complete);
  EXPECT_TRUE(parser.current().keep_alive);
}

TEST(request_parser, http11_connection_close_opts_out_of_keep_alive) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").status, state::complete);
  EXPECT_FALSE(parser.current().keep_alive);
}

TEST(request_parser, http10_defaults_to_close) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET /?shard=1 HTTP/1.0\r\n\r\n").status, state::complete);
  EXPECT_FALSE(parser.current().keep_alive);
  EXPECT_EQ(parser.current().query, "shard=1");
}

TEST(request_parser, http10_connection_keep_alive_opts_in) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").status,
            state::complete);
  EXPECT_TRUE(parser.current().keep_alive);
  parser.next();
  ASSERT_EQ(parser.feed("GET /status HTTP/1.0\r\n\r\n").status, state::complete);
  EXPECT_FALSE(parser.current().keep_alive);
  EXPECT_EQ(parser.current().path, "/status");
}

// --- pipelining

TEST(request_parser, two_pipelined_requests_in_one_buffer_parse_one_at_a_time) {
  const std::string first = "GET /?shard=1 HTTP/1.1\r\nAuthorization: one\r\n\r\n";
  const std::string second = "GET /?shard=2 HTTP/1.1\r\n\r\n";
  const std::string input = first + second;
  request_parser parser;

  auto result = parser.feed(input);
  ASSERT_EQ(result.status, state::complete);
  EXPECT_EQ(result.consumed, first.size());
  EXPECT_EQ(parser.current().query, "shard=1");
  EXPECT_EQ(parser.current().authorization, "one");

  parser.next();
  result = parser.feed(std::string_view(input).substr(first.size()));
  ASSERT_EQ(result.status, state::complete);
  EXPECT_EQ(result.consumed, second.size());
  EXPECT_EQ(parser.current().query, "shard=2");
  EXPECT_EQ(parser.current().authorization, "") << "per-request fields must be reset by next()";
}

TEST(request_parser, three_pipelined_requests_in_one_buffer_parse_one_at_a_time) {
  const std::string input =
      "GET /a HTTP/1.1\r\n\r\n"
      "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
      "GET /c?shard=3 HTTP/1.1\r\nConnection: close\r\n\r\n";
  request_parser parser;
  std::string_view rest = input;
  std::vector<std::string> paths;
  while (!rest.empty()) {
    const auto result = parser.feed(rest);
    ASSERT_EQ(result.status, state::complete);
    paths.push_back(parser.current().path);
    rest.remove_prefix(result.consumed);
    if (rest.empty()) {
      EXPECT_FALSE(parser.current().keep_alive);
    }
    parser.next();
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/a", "/b", "/c"}));
}

TEST(request_parser, pipelined_requests_fed_byte_by_byte_all_complete) {
  const std::string input =
      "GET /a HTTP/1.1\r\n\r\n"
      "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
      "GET /c HTTP/1.1\r\nAuthorization: x\r\n\r\n";
  request_parser parser;
  std::vector<std::string> paths;
  for (char c : input) {
    const auto result = parser.feed(std::string_view(&c, 1));
    ASSERT_NE(result.status, state::failed);
    ASSERT_EQ(result.consumed, 1U);
    if (result.status == state::complete) {
      paths.push_back(parser.current().path);
      parser.next();
    }
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/a", "/b", "/c"}));
}

TEST(request_parser, feeding_after_complete_without_next_consumes_nothing) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET /a HTTP/1.1\r\n\r\n").status, state::complete);
  const auto result = parser.feed("GET /b HTTP/1.1\r\n\r\n");
  EXPECT_EQ(result.status, state::complete);
  EXPECT_EQ(result.consumed, 0U);
  EXPECT_EQ(parser.current().path, "/a");
}

TEST(request_parser, blank_lines_between_pipelined_requests_are_skipped) {
  request_parser parser;
  ASSERT_EQ(parser.feed("GET /a HTTP/1.1\r\n\r\n").status, state::complete);
  parser.next();
  ASSERT_EQ(parser.feed("\r\n\r\nGET /b HTTP/1.1\r\n\r\n").status, state::complete);
  EXPECT_EQ(parser.current().path, "/b");
}

}  // namespace
}  // namespace gq::http
