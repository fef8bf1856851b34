#pragma once
// A bot the queue serves. Without a bots file (QUEUE_BOTS_FILE) there is one, named `default`,
// configured by the variables; with one, each `[[bot]]` table is a bot. The name is what the
// journal, the HTTP API and the metrics call it; inside the process a bot travels as its key, a
// small number the server hands out once per bot and never reuses while the process lives (a
// bot removed by a reload and added again gets a new key, so a late message for the old one
// cannot reach the new one).

#include <cstdint>
#include <string_view>

namespace gq {

using bot_key = std::uint32_t;

inline constexpr std::string_view k_default_bot = "default";
inline constexpr std::size_t k_max_bot_name = 32;

// [a-z0-9_-]{1,32}: safe in a URL path, a Prometheus label, a SQL text and a log line as is.
constexpr bool valid_bot_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_bot_name) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace gq
