#include "src/http/response.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace gq::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

std::string serialize(const response& r, bool keep_alive) {
  const std::string status = std::to_string(r.status);
  const std::string length = std::to_string(r.body.size());
  const std::string_view reason = reason_phrase(r.status);
  const std::string_view connection = keep_alive ? "keep-alive" : "close";

  std::size_t size = 128 + r.content_type.size() + r.body.size();
  for (const auto& [name, value] : r.headers) size += name.size() + value.size() + 4;

  std::string out;
  out.reserve(size);
  out.append("HTTP/1.1 ").append(status).append(" ").append(reason).append("\r\n");
  if (!r.content_type.empty()) out.append("Content-Type: ").append(r.content_type).append("\r\n");
  if (r.status != 204) out.append("Content-Length: ").append(length).append("\r\n");
  out.append("Connection: ").append(connection).append("\r\n");
  for (const auto& [name, value] : r.headers)
    out.append(name).append(": ").append(value).append("\r\n");
  out.append("\r\n");
  out.append(r.body);
  return out;
}

response no_content() {
  response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

response json_error(int status, std::string_view message) {
  const nlohmann::json body = {{"error", std::string(message)}};
  // `replace` instead of the default `strict`: dump() must not throw on a message that carries
  // invalid UTF-8, since an error reply is what the caller sends when something already failed.
  return response{
      .status = status,
      .content_type = "application/json",
      .body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      .headers = {},
  };
}

response retry_soon(std::string_view message) {
  return with_retry_after(json_error(503, message), 1);
}

response with_retry_after(response r, std::int64_t seconds) {
  r.headers.emplace_back("Retry-After", std::to_string(std::max<std::int64_t>(1, seconds)));
  return r;
}

}  // namespace gq::http
