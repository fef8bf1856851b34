#pragma once
// Reads session_start_limit from Discord: GET {api}/gateway/bot with `Authorization: Bot <token>`
// over HTTPS with certificate verification (plain HTTP only for a local test API).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "src/pacing/limits_fetch.hpp"

namespace gq {

// The Authorization scheme of a bot token; the configuration refuses a token given with it.
inline constexpr std::string_view k_bot_token_scheme = "Bot ";

// The most buckets the queue runs: Discord's max_concurrency above it is refused as implausible,
// and so is a configured one.
inline constexpr std::uint32_t k_max_buckets = 65536;

// Interprets one /gateway/bot answer. `retry_after_header` is the Retry-After header (seconds),
// empty when absent. `now` is when the answer arrived; reset_at = now + reset_after + 1 ms (never
// before Discord's). Rejects missing fields, wrong types and absurd values (max_concurrency 0,
// remaining > total, negative numbers) as `failed` with a detail naming the field.
limits_fetch interpret_gateway_bot(int status, std::string_view body,
                                   std::string_view retry_after_header, unix_ms now);

class discord_client {
 public:
  // `api_url` like "https://discord.com/api/v10" or "http://127.0.0.1:9999/api".
  // Throws std::invalid_argument on a URL that is not http(s)://host[:port][/path].
  discord_client(std::string api_url, std::string token,
                 std::chrono::milliseconds timeout = std::chrono::seconds{10});
  ~discord_client();

  // One blocking GET /gateway/bot. Never throws; connection errors and timeouts are `failed`.
  limits_fetch fetch();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace gq
