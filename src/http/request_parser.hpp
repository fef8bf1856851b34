#pragma once
// Incremental HTTP/1.1 request parsing for one connection, on Node's http-parser.
// Keeps only what the queue needs of a request (method, path, query, Authorization), so an
// idle or waiting connection costs a few hundred bytes. The contract: docs/HTTP_API.md.

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gq::http {

struct request {
  std::string method;         // "GET", "POST", ...
  std::string path;           // "/status"; percent-encoding left as sent
  std::string query;          // "shard=3" (without '?'), empty when absent
  std::string authorization;  // value of the Authorization header, empty when absent
  bool keep_alive = false;    // HTTP/1.1 default on, HTTP/1.0 default off, Connection header wins
};

// Limits on what a client may send; beyond them the request is refused with the given status.
struct request_limits {
  std::size_t max_url = 8 * 1024;            // 414 URI Too Long
  std::size_t max_header_bytes = 16 * 1024;  // 431 Request Header Fields Too Large
  std::size_t max_body = 64 * 1024;          // 413 Content Too Large (bodies are ignored)
};

class request_parser {
 public:
  enum class state {
    need_more,  // all input consumed, no complete request yet
    complete,   // a request is ready in current(); call next() before feeding more
    failed,     // malformed or over a limit: answer error_status() and close the connection
  };

  explicit request_parser(request_limits limits = {});
  request_parser(const request_parser&) = delete;
  request_parser& operator=(const request_parser&) = delete;

  // Parses as much of `input` as belongs to the current request and returns how many bytes it
  // consumed. On `complete` the rest of the input (a pipelined request) is not consumed: feed it
  // again after next().
  struct feed_result {
    state status;
    std::size_t consumed;
  };
  feed_result feed(std::string_view input);

  // Valid after `complete`.
  const request& current() const { return request_; }

  // Forgets the current request and prepares for the next one on the same connection.
  void next();

  // After `failed`: 400, 413, 414 or 431.
  int error_status() const { return error_status_; }
  // After `failed`: a short reason for the error body, e.g. "malformed request".
  std::string_view error_reason() const { return error_reason_; }

 private:
  static int on_message_begin(http_parser* parser);
  static int on_url(http_parser* parser, const char* at, std::size_t length);
  static int on_header_field(http_parser* parser, const char* at, std::size_t length);
  static int on_header_value(http_parser* parser, const char* at, std::size_t length);
  static int on_headers_complete(http_parser* parser);
  static int on_body(http_parser* parser, const char* at, std::size_t length);
  static int on_message_complete(http_parser* parser);

  int fail(int status, std::string_view reason);
  // Counts `length` more bytes of header names and values; false (after fail(431)) when they
  // would pass max_header_bytes.
  bool count_header_bytes(std::size_t length);

  http_parser parser_;
  request_limits limits_;
  request request_;
  std::string url_;  // raw URL while it arrives, split into path/query at headers end
  std::size_t header_bytes_ = 0;
  std::size_t body_bytes_ = 0;
  bool in_authorization_ = false;  // the header value being read belongs to Authorization
  std::string field_;              // header name while it arrives (bounded by max_header_bytes)
  bool complete_ = false;
  int error_status_ = 0;
  std::string_view error_reason_;
};

}  // namespace gq::http
