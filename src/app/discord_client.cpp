#include "src/app/discord_client.hpp"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <variant>

#include "src/core/version.hpp"

namespace gq {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

// Bounds on what Discord may plausibly say; anything outside is a bug or a hostile endpoint,
// and acting on it (a week-long reset, 10^6 buckets) would do more harm than backing off.
constexpr std::int64_t k_max_count = std::numeric_limits<std::uint32_t>::max();
constexpr std::int64_t k_max_reset_after_ms = 7LL * 24 * 3600 * 1000;
// reset_after is in whole milliseconds: the reset may be up to 1 ms after the value says.
constexpr std::int64_t k_reset_margin_ms = 1;
// A 429 is obeyed, within reason: a zero would make the caller spin, an hour is long enough.
constexpr milliseconds k_default_retry_after{5000};
constexpr milliseconds k_min_retry_after{100};
constexpr milliseconds k_max_retry_after{3600 * 1000};
// /gateway/bot answers in well under 1 KiB; a larger body is not Discord.
constexpr std::size_t k_max_body = std::size_t{64} * 1024;

limits_fetch failed(std::string detail) {
  limits_fetch result;
  result.result = limits_fetch::outcome::failed;
  result.detail = std::move(detail);
  return result;
}

// Discord's error messages go into our log: one line, printable, bounded.
std::string printable(std::string_view text) {
  constexpr std::size_t k_max_shown = 120;
  std::string out;
  for (char c : text.substr(0, k_max_shown)) {
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  }
  if (text.size() > k_max_shown) out += "...";
  return out;
}

// "HTTP 503" plus Discord's own "message" when the body carries one.
std::string status_detail(int status, std::string_view body) {
  std::string detail = "HTTP " + std::to_string(status);
  const json parsed = json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()) {
    detail += ": " + printable(parsed["message"].get<std::string>());
  }
  return detail;
}

std::optional<double> seconds_from_header(std::string_view header) {
  // delta-seconds, optionally with a fraction as Discord sends in X-RateLimit-Reset-After;
  // HTTP-dates are not worth supporting here and fall back to the default.
  if (header.empty() || header.size() > 32) return std::nullopt;
  bool digits = false, dot = false;
  for (char c : header) {
    if (c >= '0' && c <= '9') {
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return std::nullopt;
    }
  }
  if (!digits) return std::nullopt;
  return std::stod(std::string(header));
}

limits_fetch rate_limited(std::string_view body, std::string_view retry_after_header) {
  limits_fetch result;
  result.result = limits_fetch::outcome::rate_limited;
  const json parsed = json::parse(body, nullptr, false);
  std::optional<double> seconds;
  std::string source = "default";
  if (parsed.is_object() && parsed.contains("retry_after") && parsed["retry_after"].is_number()) {
    const double value = parsed["retry_after"].get<double>();
    if (std::isfinite(value) && value >= 0) {
      seconds = value;
      source = "body";
    }
  }
  if (!seconds) {
    seconds = seconds_from_header(retry_after_header);
    if (seconds) source = "Retry-After header";
  }
  milliseconds wait = k_default_retry_after;
  if (seconds) {
    const double ms = std::ceil(std::min(*seconds * 1000.0, double(k_max_retry_after.count())));
    wait = milliseconds{static_cast<milliseconds::rep>(ms)};
  }
  result.retry_after = std::clamp(wait, k_min_retry_after, k_max_retry_after);
  const bool global = parsed.is_object() && parsed.contains("global") &&
                      parsed["global"].is_boolean() && parsed["global"].get<bool>();
  result.detail = std::string("HTTP 429") + (global ? " (global)" : "") + ", retry after " +
                  std::to_string(result.retry_after.count()) + " ms (" + source + ")";
  return result;
}

// Reads session_start_limit.<name> as an integer in [min, max]; on failure returns the reason.
std::variant<std::int64_t, std::string> limit_field(const json& limits, const char* name,
                                                    std::int64_t min, std::int64_t max) {
  const std::string field = std::string("session_start_limit.") + name;
  if (!limits.contains(name)) return field + " is missing";
  const json& value = limits[name];
  if (!value.is_number_integer()) return field + " is not an integer";
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > k_max_stored_integer) {
    return field + " is too large";
  }
  const auto number = value.get<std::int64_t>();
  if (number < 0) return field + " is negative (" + std::to_string(number) + ")";
  if (number < min || number > max) {
    return field + " is " + std::to_string(number) + ", outside " + std::to_string(min) + ".." +
           std::to_string(max);
  }
  return number;
}

limits_fetch parse_limits(std::string_view body, unix_ms now) {
  const json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return failed("HTTP 200 with a body that is not JSON");
  if (!parsed.is_object()) return failed("HTTP 200 with a body that is not a JSON object");
  if (!parsed.contains("session_start_limit")) return failed("session_start_limit is missing");
  const json& limits = parsed["session_start_limit"];
  if (!limits.is_object()) return failed("session_start_limit is not an object");

  std::int64_t values[4];
  const struct {
    const char* name;
    std::int64_t min, max;
  } fields[4] = {{"total", 1, k_max_count},
                 {"remaining", 0, k_max_count},
                 {"reset_after", 0, k_max_reset_after_ms},
                 {"max_concurrency", 1, k_max_buckets}};
  for (int i = 0; i < 4; ++i) {
    auto field = limit_field(limits, fields[i].name, fields[i].min, fields[i].max);
    if (auto* reason = std::get_if<std::string>(&field)) return failed(std::move(*reason));
    values[i] = std::get<std::int64_t>(field);
  }
  const auto [total, remaining, reset_after, max_concurrency] = values;
  if (remaining > total) {
    return failed("session_start_limit.remaining (" + std::to_string(remaining) +
                  ") exceeds total (" + std::to_string(total) + ")");
  }
  limits_fetch result;
  result.result = limits_fetch::outcome::ok;
  result.limits = session_limits{static_cast<std::uint32_t>(total),
                                 static_cast<std::uint32_t>(remaining),
                                 now + reset_after + k_reset_margin_ms,
                                 static_cast<std::uint32_t>(max_concurrency),
                                 limits_source::discord,
                                 now};
  result.detail = "HTTP 200";
  return result;
}

bool valid_header_value(std::string_view text) {
  return !text.empty() && std::none_of(text.begin(), text.end(),
                                       [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

std::string error_detail(httplib::Error error, milliseconds timeout) {
  std::string detail = "request failed: " + httplib::to_string(error);
  switch (error) {
    case httplib::Error::Read:
    case httplib::Error::Write:
    case httplib::Error::ConnectionTimeout:
      detail += " (timeout after " + std::to_string(timeout.count()) + " ms or connection lost)";
      break;
    case httplib::Error::Connection:
      detail += " (cannot connect)";
      break;
    case httplib::Error::SSLServerVerification:
      detail += " (certificate not trusted)";
      break;
    default:
      break;
  }
  return detail;
}

}  // namespace

limits_fetch interpret_gateway_bot(int status, std::string_view body,
                                   std::string_view retry_after_header, unix_ms now) {
  switch (status) {
    case 200:
      return parse_limits(body, now);
    case 401: {
      limits_fetch result;
      result.result = limits_fetch::outcome::unauthorized;
      result.detail = "HTTP 401: the token was rejected";
      return result;
    }
    case 429:
      return rate_limited(body, retry_after_header);
    default:
      return failed(status_detail(status, body));
  }
}

struct discord_client::impl {
  bool https = true;
  std::string host;
  int port = 443;
  std::string path;  // prefix + "/gateway/bot"
  std::string token;
  milliseconds timeout;

  // Parses http(s)://host[:port][/path]; an IPv6 literal goes in brackets.
  void parse_url(std::string_view url) {
    auto bad = [] { throw std::invalid_argument("API URL must be http(s)://host[:port][/path]"); };
    if (url.starts_with("https://")) {
      https = true;
      url.remove_prefix(8);
    } else if (url.starts_with("http://")) {
      https = false;
      url.remove_prefix(7);
    } else {
      bad();
    }
    if (url.find_first_of("?#@") != std::string_view::npos || !valid_header_value(url)) bad();
    const auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    std::string_view prefix = slash == std::string_view::npos ? "" : url.substr(slash);
    while (prefix.ends_with('/')) prefix.remove_suffix(1);  // ".../v10/" means ".../v10"
    std::string_view port_text;
    if (authority.starts_with('[')) {
      const auto close = authority.find(']');
      if (close == std::string_view::npos || close == 1) bad();
      host = authority.substr(1, close - 1);
      const auto rest = authority.substr(close + 1);
      if (!rest.empty() && !rest.starts_with(':')) bad();
      if (!rest.empty()) port_text = rest.substr(1);
      if (!rest.empty() && port_text.empty()) bad();
    } else {
      const auto colon = authority.find(':');
      host = authority.substr(0, colon);
      if (colon != std::string_view::npos) {
        port_text = authority.substr(colon + 1);
        if (port_text.empty()) bad();
      }
    }
    if (host.empty()) bad();
    port = https ? 443 : 80;
    if (!port_text.empty()) {
      if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(),
                                               [](char c) { return c >= '0' && c <= '9'; })) {
        bad();
      }
      port = std::stoi(std::string(port_text));
      if (port < 1 || port > std::numeric_limits<std::uint16_t>::max()) bad();
    }
    path = std::string(prefix) + "/gateway/bot";
  }

  std::unique_ptr<httplib::ClientImpl> make_client() const {
    std::unique_ptr<httplib::ClientImpl> client;
    if (https) {
      auto ssl = std::make_unique<httplib::SSLClient>(host, port);
      ssl->enable_server_certificate_verification(true);  // the default, stated: a token rides
      client = std::move(ssl);
    } else {
      client = std::make_unique<httplib::ClientImpl>(host, port);
    }
    client->set_connection_timeout(timeout);
    client->set_read_timeout(timeout);
    client->set_write_timeout(timeout);
    client->set_follow_location(false);  // a redirect would carry the token elsewhere
    client->set_keep_alive(false);
    return client;
  }
};

discord_client::discord_client(std::string api_url, std::string token,
                               std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>()) {
  impl_->parse_url(api_url);
  impl_->token = std::move(token);
  impl_->timeout = timeout;
}

discord_client::~discord_client() = default;

limits_fetch discord_client::fetch() {
  const auto now = [] {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // A CR or LF would split the header; configuration rejects such tokens already.
  if (!valid_header_value(impl_->token)) {
    return failed("token is empty or contains whitespace or control characters");
  }
  limits_fetch result;
  try {
    auto client = impl_->make_client();
    const httplib::Headers headers{
        {"Authorization", std::string(k_bot_token_scheme) + impl_->token},
        {"User-Agent", "DiscordBot (" GQ_HOMEPAGE_URL ", " + std::string(build_version()) + ")"},
        {"Accept", "application/json"}};
    std::string body;
    bool too_large = false;
    auto response = client->Get(impl_->path, headers, [&](const char* data, std::size_t length) {
      too_large = body.size() + length > k_max_body;
      if (!too_large) body.append(data, length);
      return !too_large;
    });
    if (too_large) {
      result = failed("response body larger than " + std::to_string(k_max_body) + " bytes");
    } else if (!response) {
      result = failed(error_detail(response.error(), impl_->timeout));
    } else {
      // Discord counts reset_after from when it answered; counted from when the answer
      // arrived, the reset is never placed before Discord's (a request's round trip earlier
      // would let shards identify in the old window, over its budget).
      result = interpret_gateway_bot(response->status, body,
                                     response->get_header_value("Retry-After"), now());
    }
  } catch (const std::exception& e) {  // httplib may throw on allocation or OpenSSL setup
    result = failed(std::string("request failed: ") + e.what());
  }
  // Last line of defence: nothing above should ever echo the token, but an endpoint might.
  constexpr std::string_view k_redacted = "[redacted]";
  for (auto at = result.detail.find(impl_->token); at != std::string::npos;
       at = result.detail.find(impl_->token, at + k_redacted.size())) {
    result.detail.replace(at, impl_->token.size(), k_redacted);
  }
  return result;
}

}  // namespace gq
