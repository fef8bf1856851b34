#pragma once
// The values the journal stores and the rest of the queue passes around: plain records with no
// dependency beyond the standard library, so that pacing math, the HTTP protocol and the actors
// can use them without seeing any journal backend. Format on disk: docs/JOURNAL.md.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/core/bot.hpp"
#include "src/core/shard.hpp"

namespace gq {

// Wall-clock time as unix epoch milliseconds: the unit of the journal, Discord and the HTTP API.
using unix_ms = std::int64_t;

// The largest shard and the largest time the queue accepts, 2^63 - 1: the journal stores both as
// SQLite INTEGER, a signed 64-bit number, and unix_ms is one too.
inline constexpr std::uint64_t k_max_stored_integer = std::numeric_limits<std::int64_t>::max();

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

// What a shard reports its grant became (POST /outcome): the IDENTIFY reached READY, was
// answered with an Invalid Session (op 9), or its connection closed before READY.
enum class outcome_result : std::uint8_t { ready, invalid_session, closed };

constexpr std::string_view to_string(outcome_result result) {
  switch (result) {
    case outcome_result::ready:
      return "ready";
    case outcome_result::invalid_session:
      return "invalid_session";
    case outcome_result::closed:
      return "closed";
  }
  return "closed";
}

inline std::optional<outcome_result> parse_outcome_result(std::string_view text) {
  for (auto r : {outcome_result::ready, outcome_result::invalid_session, outcome_result::closed})
    if (text == to_string(r)) return r;
  return std::nullopt;
}

// A shard's report, as journaled on its grant's row.
struct grant_outcome {
  outcome_result result = outcome_result::ready;
  std::optional<std::uint32_t> code;  // the close code, with `closed`
  unix_ms reported_at = 0;

  friend bool operator==(const grant_outcome&, const grant_outcome&) = default;
};

// One grant: a shard was told it may identify.
struct release_record {
  unix_ms released_at = 0;
  shard_id shard;  // none when the request carried no shard
  std::uint32_t bucket = 0;
  std::uint32_t max_concurrency = 1;
  std::int64_t waited_ms = 0;
  // What the grant became, once its shard reported it (history only: a new grant has none).
  std::optional<grant_outcome> outcome{};
  std::string bot{k_default_bot};  // whose budget and buckets it belongs to

  friend bool operator==(const release_record&, const release_record&) = default;
};

// The one check every journal backend makes before it stores a grant: nullopt for a record the
// queue can produce, else why not. recover() relies on such records never being stored.
inline std::optional<std::string> release_record_problem(const release_record& record) {
  if (!valid_bot_name(record.bot)) return std::string("bot is not [a-z0-9_-]{1,32}");
  if (record.max_concurrency == 0) return std::string("max_concurrency is 0");
  if (record.bucket >= record.max_concurrency) {
    return "bucket " + std::to_string(record.bucket) + " is not below max_concurrency " +
           std::to_string(record.max_concurrency);
  }
  if (record.shard && *record.shard > k_max_stored_integer)
    return "shard " + std::to_string(*record.shard) + " exceeds 2^63 - 1";
  return std::nullopt;
}

// What a restart needs to continue pacing where the previous process stopped.
struct recovery_state {
  std::optional<session_limits> limits;  // newest journaled limits, if any
  // The newest grant of all, and the max_concurrency it was made under.
  std::optional<unix_ms> last_release_at;
  std::uint32_t last_max_concurrency = 0;
  // Newest grant per bucket among the grants made under last_max_concurrency;
  // index = bucket, nullopt = no grant journaled for that bucket.
  std::vector<std::optional<unix_ms>> last_release_by_bucket;
};

// A question to the journal's history: the filters of GET /history and `gateway-queue history`.
struct history_filter {
  static constexpr std::uint32_t k_default_limit = 100;
  static constexpr std::uint32_t k_max_limit = 10000;

  shard_id shard;                         // at most k_max_stored_integer
  std::optional<unix_ms> since;           // inclusive, non-negative
  std::optional<unix_ms> until;           // inclusive, non-negative, not before since
  std::uint32_t limit = k_default_limit;  // 1 to k_max_limit rows, newest first
  std::optional<std::string> bot;         // none: every bot's grants
};

// The one check of a history filter's bounds, shared by the HTTP parser, the history command's
// flags and every journal backend: nullopt when the filter is one GET /history accepts, else why
// not, worded for a 400 body. (Syntax, such as "12x", is the parser's business.)
inline std::optional<std::string> history_filter_problem(const history_filter& filter) {
  const auto integer = [](std::string_view key, std::string_view what) {
    return std::string(key) + " must be " + std::string(what) + "a decimal integer from 0 to " +
           std::to_string(k_max_stored_integer);
  };
  if (filter.bot && !valid_bot_name(*filter.bot))
    return std::string("bot must be 1 to 32 of a-z, 0-9, _ and -");
  if (filter.shard && *filter.shard > k_max_stored_integer) return integer("shard", "");
  if (filter.since && *filter.since < 0) return integer("since", "a unix time in milliseconds, ");
  if (filter.until && *filter.until < 0) return integer("until", "a unix time in milliseconds, ");
  if (filter.limit < 1 || filter.limit > history_filter::k_max_limit)
    return "limit must be between 1 and " + std::to_string(history_filter::k_max_limit);
  if (filter.since && filter.until && *filter.since > *filter.until)
    return std::string("since must not be after until");
  return std::nullopt;
}

// A journaled grant whose waiter left before its 200 was written went to the next waiter of its
// bucket at the same due instant: its row (found by bot, due instant, bucket and
// max_concurrency, which two grants never share) now names that waiter's shard and wait. Counted
// once either way.
struct release_reattribution {
  unix_ms released_at = 0;
  std::uint32_t bucket = 0;
  std::uint32_t max_concurrency = 1;
  shard_id shard;              // the new waiter's
  std::int64_t waited_ms = 0;  // the new waiter's
  std::string bot{k_default_bot};

  friend bool operator==(const release_reattribution&, const release_reattribution&) = default;
};

// The row of a journaled grant, as the ledger remembers it for one bot: with the bot,
// released_at, bucket and max_concurrency find it (two grants of a bot never share them).
struct grant_row {
  unix_ms released_at = 0;
  std::uint32_t bucket = 0;
  std::uint32_t max_concurrency = 1;

  friend bool operator==(const grant_row&, const grant_row&) = default;
};

// A shard's report journaled on its grant's row (a later report of the same grant replaces it).
struct release_outcome {
  grant_row row;
  grant_outcome outcome;
  std::string bot{k_default_bot};

  friend bool operator==(const release_outcome&, const release_outcome&) = default;
};

// A journaled grant that named a shard, as the loop guard and outcome reports read it back.
struct shard_grant {
  std::uint64_t shard = 0;
  grant_row row;

  friend bool operator==(const shard_grant&, const shard_grant&) = default;
};

// A journaled Invalid Session: the grant's row and when it was reported. Widening is read back
// from these after a restart.
struct reported_invalid_session {
  grant_row row;
  unix_ms reported_at = 0;

  friend bool operator==(const reported_invalid_session&,
                         const reported_invalid_session&) = default;
};

}  // namespace gq
