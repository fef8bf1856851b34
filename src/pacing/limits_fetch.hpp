#pragma once
// What one read of Discord's GET /gateway/bot yields, and how long to wait before the next read.
// Plain C++: the limits scheduler actor decides with it, the Discord client produces it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "src/core/records.hpp"

namespace gq {

struct limits_fetch {
  enum class outcome {
    ok,            // limits holds valid values
    unauthorized,  // 401: the token was rejected; never retry with it
    rate_limited,  // 429: wait retry_after, then try again
    failed,        // 5xx, timeout, connection error, bad JSON, missing or absurd fields: back off
  };
  outcome result = outcome::failed;
  session_limits limits;                     // valid when result == ok (source = discord)
  std::chrono::milliseconds retry_after{0};  // valid when result == rate_limited
  std::string
      detail;  // for the log: "HTTP 503", "timeout", "max_concurrency is 0"; never the token
};

// Performs one blocking fetch; `now` is the wall clock at the start of the request.
using limits_fetcher = std::function<limits_fetch()>;

}  // namespace gq
