#pragma once
// HTTP/1.1 response bytes, written by the edge in one piece.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gq::http {

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Retry-After
};

// "OK", "Bad Request", ... for the statuses the queue sends; "Unknown" otherwise.
std::string_view reason_phrase(int status);

// Serializes with Content-Length and `Connection: keep-alive` or `Connection: close`.
std::string serialize(const response& r, bool keep_alive);

// 204 No Content: no body, no Content-Type, no Content-Length (RFC 9110 forbids one on a 204).
response no_content();

// {"error": message} with the given status; message is JSON-escaped.
response json_error(int status, std::string_view message);

// `r` with a Retry-After header of `seconds`, at least 1.
response with_retry_after(response r, std::int64_t seconds);

// 503 {"error": message} with Retry-After: 1: what stands in the way passes in a moment (a
// standby may be the active queue then, a stopping queue restarted or taken over, a journal
// write may succeed again).
response retry_soon(std::string_view message);

}  // namespace gq::http
