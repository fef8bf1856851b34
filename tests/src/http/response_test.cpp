#include "src/http/response.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace gq::http {
namespace {

TEST(response, serializes_status_line_headers_and_body) {
  const response r{
      .status = 200, .content_type = "application/json", .body = R"({"a":1})", .headers = {}};
  EXPECT_EQ(serialize(r, true),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 7\r\n"
            "Connection: keep-alive\r\n"
            "\r\n"
            R"({"a":1})");
}

TEST(response, closing_response_says_connection_close) {
  const response r{.status = 503, .content_type = "text/plain", .body = "", .headers = {}};
  EXPECT_EQ(serialize(r, false),
            "HTTP/1.1 503 Service Unavailable\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 0\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(response, extra_headers_follow_the_standard_ones_in_order) {
  const response r{.status = 429,
                   .content_type = "application/json",
                   .body = "{}",
                   .headers = {{"Retry-After", "42"}, {"X-Queue", "full"}}};
  EXPECT_EQ(serialize(r, true),
            "HTTP/1.1 429 Too Many Requests\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 2\r\n"
            "Connection: keep-alive\r\n"
            "Retry-After: 42\r\n"
            "X-Queue: full\r\n"
            "\r\n"
            "{}");
}

TEST(response, content_length_counts_bytes_not_characters) {
  const response r{
      .status = 200, .content_type = "text/plain", .body = "\xc3\xa9t\xc3\xa9", .headers = {}};
  EXPECT_NE(serialize(r, true).find("Content-Length: 5\r\n"), std::string::npos);
}

TEST(response, empty_content_type_omits_the_header) {
  const response r{.status = 200, .content_type = "", .body = "", .headers = {}};
  EXPECT_EQ(serialize(r, true).find("Content-Type"), std::string::npos);
}

TEST(response, reason_phrases_cover_every_status_the_queue_sends) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(401), "Unauthorized");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(408), "Request Timeout");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(429), "Too Many Requests");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(500), "Internal Server Error");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
}

TEST(response, unknown_status_has_reason_unknown) {
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(serialize(response{.status = 299, .content_type = "", .body = "", .headers = {}}, true)
                .substr(0, 22),
            "HTTP/1.1 299 Unknown\r\n");
}

TEST(response, json_error_is_an_error_object_with_the_status) {
  const response r = json_error(400, "shard given twice with different values");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"error":"shard given twice with different values"})");
  EXPECT_TRUE(r.headers.empty());
}

TEST(response, json_error_escapes_quotes_backslashes_and_control_characters) {
  const std::string message = "say \"hi\"\\ \n\t\x01 done";
  const response r = json_error(400, message);
  const auto parsed = nlohmann::json::parse(r.body);
  EXPECT_EQ(parsed.at("error").get<std::string>(), message);
}

TEST(response, json_error_with_invalid_utf8_does_not_throw) {
  response r;
  ASSERT_NO_THROW(r = json_error(400, "bad \xff byte"));
  EXPECT_TRUE(nlohmann::json::accept(r.body));
}

}  // namespace
}  // namespace gq::http
