#include "src/http/request_parser.hpp"

#include <algorithm>

namespace gq::http {

namespace {

constexpr std::string_view k_authorization = "authorization";

// A header name is kept only as far as needed to recognise Authorization: one character more
// than its length tells "authorization" from "authorization-x". 14 characters stay in the
// string's inline buffer, so a header name never allocates however long it is.
constexpr std::size_t k_field_prefix = k_authorization.size() + 1;

// Most bytes handed to http_parser_execute at once; see feed().
constexpr std::size_t k_execute_slice = 4096;

// ASCII only: header names are tokens, and std::tolower would follow the process locale.
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// Frees the heap buffer too: clear() keeps the capacity, and a waiting connection should not
// carry the largest URL it ever saw.
void release(std::string& s) { std::string{}.swap(s); }

request_parser& self(http_parser* parser) { return *static_cast<request_parser*>(parser->data); }

}  // namespace

request_parser::request_parser(request_limits limits) : parser_{}, limits_{limits} {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

request_parser::feed_result request_parser::feed(std::string_view input) {
  // Local to a member function so that it may name the private callbacks.
  static constexpr http_parser_settings k_settings{
      .on_message_begin = &request_parser::on_message_begin,
      .on_url = &request_parser::on_url,
      .on_status = nullptr,
      .on_header_field = &request_parser::on_header_field,
      .on_header_value = &request_parser::on_header_value,
      .on_headers_complete = &request_parser::on_headers_complete,
      .on_body = &request_parser::on_body,
      .on_message_complete = &request_parser::on_message_complete,
      .on_chunk_header = nullptr,
      .on_chunk_complete = nullptr,
  };

  if (error_status_ != 0) return {state::failed, 0};
  if (complete_) return {state::complete, 0};
  // http_parser_execute reads a zero length as end of stream; an empty read is not that.
  if (input.empty()) return {state::need_more, 0};

  // http_parser reports a URL or header piece only when it ends or the buffer does, and counts
  // the header section against its own 80 KiB cap byte by byte. Slices make our (smaller)
  // limits trip at most one slice past themselves, before that cap would give a vaguer error.
  std::size_t consumed = 0;
  while (consumed < input.size()) {
    const std::size_t slice = std::min(input.size() - consumed, k_execute_slice);
    const std::size_t done =
        http_parser_execute(&parser_, &k_settings, input.data() + consumed, slice);
    consumed += done;
    if (error_status_ != 0) return {state::failed, consumed};
    if (complete_) return {state::complete, consumed};
    if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) break;
  }

  switch (HTTP_PARSER_ERRNO(&parser_)) {
    case HPE_OK:
      return {state::need_more, consumed};
    case HPE_HEADER_OVERFLOW:
      // Only reachable when a limit is configured above http_parser's cap, or when the bytes
      // it counts are ones no callback reports (whitespace).
      if (request_.path.empty() && header_bytes_ == 0) {
        fail(414, "URI too long");
      } else {
        fail(431, "request header fields too large");
      }
      break;
    default:
      fail(400, "malformed request");
      break;
  }
  return {state::failed, consumed};
}

void request_parser::next() {
  // Only a completed request may be followed by another; after `failed` the connection closes.
  if (!complete_) return;
  release(request_.method);
  release(request_.path);
  release(request_.query);
  release(request_.authorization);
  request_.keep_alive = false;
  release(url_);
  release(field_);
  header_bytes_ = 0;
  body_bytes_ = 0;
  in_authorization_ = false;
  complete_ = false;
  http_parser_pause(&parser_, 0);
}

int request_parser::fail(int status, std::string_view reason) {
  if (error_status_ == 0) {
    error_status_ = status;
    error_reason_ = reason;
  }
  // Any value other than 0, 1 and 2 is an error for every callback, on_headers_complete too.
  return -1;
}

// Checked before adding, so that the count never passes the limit (nor wraps).
bool request_parser::count_header_bytes(std::size_t length) {
  if (length > limits_.max_header_bytes - header_bytes_) {
    fail(431, "request header fields too large");
    return false;
  }
  header_bytes_ += length;
  return true;
}

int request_parser::on_message_begin(http_parser*) { return 0; }

int request_parser::on_url(http_parser* parser, const char* at, std::size_t length) {
  auto& p = self(parser);
  // Checked before appending, so an over-long URL never grows the buffer past the limit.
  if (length > p.limits_.max_url - p.url_.size()) return p.fail(414, "URI too long");
  p.url_.append(at, length);
  return 0;
}

int request_parser::on_header_field(http_parser* parser, const char* at, std::size_t length) {
  auto& p = self(parser);
  if (!p.count_header_bytes(length)) return -1;
  // http_parser (built non-strict) lets spaces into names; RFC 9112 5.1 requires a 400 for
  // "Name : value", which proxies read differently (request smuggling).
  if (std::string_view(at, length).find_first_of(" \t") != std::string_view::npos) {
    return p.fail(400, "malformed request");
  }
  // Trailers (after a chunked body) count toward the limit but are never captured: an
  // Authorization trailer must not authorize a request whose headers did not.
  if (!p.request_.path.empty()) return 0;
  // field_ is empty exactly between headers: the first piece of a name starts a new header.
  if (p.field_.empty()) p.in_authorization_ = false;
  const std::size_t room = k_field_prefix - p.field_.size();
  p.field_.append(at, std::min(length, room));
  return 0;
}

int request_parser::on_header_value(http_parser* parser, const char* at, std::size_t length) {
  auto& p = self(parser);
  if (!p.count_header_bytes(length)) return -1;
  if (!p.request_.path.empty()) return 0;
  // http_parser reports every header value, an empty one with length 0, so a non-empty field_
  // means this is the first piece of the value of the name in field_.
  if (!p.field_.empty()) {
    p.in_authorization_ = iequals(p.field_, k_authorization);
    p.field_.clear();
    // Two credentials are ambiguous: a proxy may have checked the other one.
    if (p.in_authorization_ && !p.request_.authorization.empty()) {
      return p.fail(400, "Authorization header given twice");
    }
  }
  if (p.in_authorization_) p.request_.authorization.append(at, length);
  return 0;
}

int request_parser::on_headers_complete(http_parser* parser) {
  auto& p = self(parser);
  http_parser_url url;
  http_parser_url_init(&url);
  if (http_parser_parse_url(p.url_.data(), p.url_.size(), 0, &url) != 0) {
    return p.fail(400, "malformed request");
  }
  const auto has = [&url](http_parser_url_fields field) {
    return (url.field_set & (1U << field)) != 0;
  };
  // Origin form only ("/path?query"): "*", absolute URLs and authority form are not requests a
  // gateway client sends.
  if (has(UF_SCHEMA) || has(UF_HOST) || !has(UF_PATH) ||
      p.url_[url.field_data[UF_PATH].off] != '/') {
    return p.fail(400, "malformed request");
  }
  const std::string_view raw = p.url_;
  p.request_.path = raw.substr(url.field_data[UF_PATH].off, url.field_data[UF_PATH].len);
  if (has(UF_QUERY)) {
    p.request_.query = raw.substr(url.field_data[UF_QUERY].off, url.field_data[UF_QUERY].len);
  }
  release(p.url_);
  release(p.field_);
  p.request_.method = http_method_str(static_cast<http_method>(parser->method));

  auto& auth = p.request_.authorization;
  while (!auth.empty() && (auth.back() == ' ' || auth.back() == '\t')) auth.pop_back();

  // Refused before the body arrives: a client announcing a large body is not worth reading.
  if ((parser->flags & F_CONTENTLENGTH) != 0 && parser->content_length > p.limits_.max_body) {
    return p.fail(413, "request body too large");
  }
  return 0;
}

int request_parser::on_body(http_parser* parser, const char*, std::size_t length) {
  auto& p = self(parser);
  // Chunked bodies announce no length; they are counted as they arrive and never stored.
  if (length > p.limits_.max_body - p.body_bytes_) return p.fail(413, "request body too large");
  p.body_bytes_ += length;
  return 0;
}

int request_parser::on_message_complete(http_parser* parser) {
  auto& p = self(parser);
  p.request_.keep_alive = http_should_keep_alive(parser) != 0;
  p.complete_ = true;
  // Stops http_parser_execute right after this request, leaving a pipelined one unread until
  // the caller has answered this one and called next().
  http_parser_pause(parser, 1);
  return 0;
}

}  // namespace gq::http
