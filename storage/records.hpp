#pragma once
// The values the journal stores and the rest of the queue passes around.
// Format on disk: docs/JOURNAL.md.

#include <cstdint>
#include <optional>
#include <string_view>

namespace gq {

// Wall-clock time as unix epoch milliseconds: the unit of the journal, Discord and the HTTP API.
using unix_ms = std::int64_t;

enum class limits_source { config, discord };

constexpr std::string_view to_string(limits_source source) {
  return source == limits_source::discord ? "discord" : "config";
}

// Discord's session_start_limit (or the configured stand-in) as last known.
struct session_limits {
  std::uint32_t total = 0;
  std::uint32_t remaining = 0;
  unix_ms reset_at = 0;  // when remaining refills to total
  std::uint32_t max_concurrency = 1;
  limits_source source = limits_source::config;
  unix_ms fetched_at = 0;  // when these limits were read (or configured)

  friend bool operator==(const session_limits&, const session_limits&) = default;
};

// One grant: a shard was told it may identify.
struct release_record {
  unix_ms released_at = 0;
  std::optional<std::uint64_t> shard;  // absent when the request carried no shard
  std::uint32_t bucket = 0;
  std::uint32_t max_concurrency = 1;
  std::int64_t waited_ms = 0;

  friend bool operator==(const release_record&, const release_record&) = default;
};

// A journaled grant whose waiter left before its 200 was written went to the next waiter of its
// bucket at the same due instant: its row (found by due instant, bucket and max_concurrency,
// which two grants never share) now names that waiter's shard and wait. Counted once either way.
struct release_reattribution {
  unix_ms released_at = 0;
  std::uint32_t bucket = 0;
  std::uint32_t max_concurrency = 1;
  std::optional<std::uint64_t> shard;  // the new waiter's
  std::int64_t waited_ms = 0;          // the new waiter's

  friend bool operator==(const release_reattribution&, const release_reattribution&) = default;
};

}  // namespace gq
