#pragma once
// The statements both journal backends run, written once, each followed by the one decoder of
// its rows. Placeholders are numbered as PostgreSQL writes them ($1, $2, ...); for_dialect()
// gives SQLite's (?1, ?2, ...), which bind the same values by the same numbers. Statements that
// only one backend runs (SQLite's one-row INSERT, PostgreSQL's unnest() batch, the schemas) stay
// in storage/sqlite/ and storage/postgres/. Internal to storage/.
//
// Every statement about one bot takes the bot's name as its last placeholder (history, whose
// placeholders vary, as its first), and reads or writes that bot's rows alone.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/core/records.hpp"

namespace gq::storage::sql {

enum class dialect { sqlite, postgres };

// `text` with its placeholders as `to` writes them.
std::string for_dialect(std::string_view text, dialect to);

// One row of a result as both backends read it (sqlite::statement_use,
// postgres::result::row_view): column values by 0-based index.
template <class Row>
concept row = requires(const Row& r, int column) {
  { r.integer(column) } -> std::same_as<std::int64_t>;
  { r.is_null(column) } -> std::same_as<bool>;
  { r.text(column) } -> std::same_as<std::string>;
};

// The grant a row names by its due instant, bucket and max_concurrency, from column `first` on.
grant_row read_grant_row(const row auto& r, int first) {
  return {r.integer(first), static_cast<std::uint32_t>(r.integer(first + 1)),
          static_cast<std::uint32_t>(r.integer(first + 2))};
}

// --- Writes ---

// The bot's newest row with that due instant, bucket and max_concurrency: two grants of one
// bucket never share a due instant (they are an interval apart), the max() only guards against
// rows a restart with a stepped clock left. Another bot's grant may share all three: the bot
// tells them apart. One seek in releases_by_bucket (bot, max_concurrency, bucket, released_at).
inline constexpr std::string_view k_reattribute_release =
    "UPDATE releases SET shard = $1, waited_ms = $2 WHERE id = (SELECT max(id) FROM releases "
    "WHERE bot = $6 AND max_concurrency = $5 AND bucket = $4 AND released_at = $3)";
// The same row as a re-attribution finds; a later report of the same grant replaces the earlier.
inline constexpr std::string_view k_record_outcome =
    "UPDATE releases SET outcome = $1, outcome_code = $2, outcome_at = $3 WHERE id = (SELECT "
    "max(id) FROM releases WHERE bot = $7 AND max_concurrency = $6 AND bucket = $5 AND "
    "released_at = $4)";
inline constexpr std::string_view k_insert_limits =
    "INSERT INTO limits (fetched_at, total, remaining, reset_at, max_concurrency, source, bot) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)";
// Retention: at most $2 rows released before $1, one short transaction each.
inline constexpr std::string_view k_prune =
    "DELETE FROM releases WHERE id IN (SELECT id FROM releases WHERE released_at < $1 LIMIT $2)";

// --- Recovery: read in one snapshot ---

// The bot's newest limits: one seek in limits_by_bot (bot, id).
inline constexpr std::string_view k_newest_limits =
    "SELECT fetched_at, total, remaining, reset_at, max_concurrency, source "
    "FROM limits WHERE bot = $1 ORDER BY id DESC LIMIT 1";
// The `source` column: 'discord' or 'config' (the table's CHECK).
inline limits_source parse_limits_source(std::string_view text) {
  return text == to_string(limits_source::discord) ? limits_source::discord : limits_source::config;
}
// A row of k_newest_limits.
session_limits read_limits(const row auto& r) {
  session_limits limits;
  limits.fetched_at = r.integer(0);
  limits.total = static_cast<std::uint32_t>(r.integer(1));
  limits.remaining = static_cast<std::uint32_t>(r.integer(2));
  limits.reset_at = r.integer(3);
  limits.max_concurrency = static_cast<std::uint32_t>(r.integer(4));
  limits.source = parse_limits_source(r.text(5));
  return limits;
}

// "Newest" is the largest released_at (ties: the larger id), as in GET /history: pacing must wait
// for the latest timestamp even if the wall clock once stepped back. The bot's newest: the last
// entry of its range in releases_by_bot (bot, released_at).
inline constexpr std::string_view k_newest_release =
    "SELECT released_at, max_concurrency FROM releases WHERE bot = $1 "
    "ORDER BY released_at DESC, id DESC LIMIT 1";
// A row of k_newest_release, into `state`.
void read_newest_release(const row auto& r, recovery_state& state) {
  state.last_release_at = r.integer(0);
  state.last_max_concurrency = static_cast<std::uint32_t>(r.integer(1));
}

// The newest grant of each bucket of bot $2 under max_concurrency $1: for each bucket of that
// layout, one seek to the end of its range in releases_by_bucket (bot, max_concurrency, bucket,
// released_at), the bot and max_concurrency a fixed prefix. So recovery costs O(buckets x log
// rows) whatever the number of bots and rows, instead of reading every row (0.6 ms instead of
// 1.2 s for 1,000,000 rows in SQLite, docs/BENCHMARKS.md). One seek per bucket rather than a
// skip-scan over the buckets present (two seeks each): a bot with at least as many shards as
// buckets has every bucket present, and then this costs about half (0.06-0.14 ms instead of
// 0.12-0.22 ms for 16 buckets on the loaded 2-core machine); only a layout with fewer than half
// its buckets in use costs more than the skip-scan did. Both dialects run it as index seeks. The
// buckets are bigint, as max_concurrency is, so that PostgreSQL deduces one type for $1.
inline constexpr std::string_view k_newest_by_bucket = R"sql(
WITH RECURSIVE layout(bucket) AS (
  SELECT CAST(0 AS BIGINT)
  UNION ALL
  SELECT bucket + 1 FROM layout WHERE bucket + 1 < $1)
SELECT bucket,
       (SELECT max(released_at) FROM releases
        WHERE bot = $2 AND max_concurrency = $1 AND releases.bucket = layout.bucket)
FROM layout)sql";
// A row of k_newest_by_bucket (bucket, its newest grant or NULL when it has none), into `state`,
// whose last_release_by_bucket holds last_max_concurrency entries (the statement's buckets are
// below $1, so the index stays in range).
void read_newest_of_bucket(const row auto& r, recovery_state& state) {
  if (!r.is_null(1))
    state.last_release_by_bucket[static_cast<std::size_t>(r.integer(0))] = r.integer(1);
}

// --- Reads after a restart ---

// Each reads the bot's bounded range of an index: the grants since $1 (releases_by_bot), the
// reported Invalid Sessions (the partial index releases_invalid_sessions, bot and outcome_at).
inline constexpr std::string_view k_count_since =
    "SELECT count(*) FROM releases WHERE bot = $2 AND released_at >= $1";

inline constexpr std::string_view k_shard_grants_since =
    "SELECT shard, released_at, bucket, max_concurrency FROM releases "
    "WHERE bot = $2 AND released_at >= $1 AND shard IS NOT NULL ORDER BY released_at, id";
// A row of k_shard_grants_since.
shard_grant read_shard_grant(const row auto& r) {
  return {static_cast<std::uint64_t>(r.integer(0)), read_grant_row(r, 1)};
}

inline constexpr std::string_view k_invalid_sessions_since =
    "SELECT released_at, bucket, max_concurrency, outcome_at FROM releases "
    "WHERE outcome = 'invalid_session' AND bot = $2 AND outcome_at >= $1 ORDER BY outcome_at, id";
// A row of k_invalid_sessions_since.
reported_invalid_session read_invalid_session(const row auto& r) {
  return {read_grant_row(r, 0), r.integer(3)};
}

// --- History ---

// The filters a history query has, as bits: each combination is a shape of its own (SQLite
// prepares one statement per shape).
enum history_filters : unsigned { k_by_shard = 1, k_by_since = 2, k_by_until = 4, k_by_bot = 8 };
inline constexpr unsigned k_history_shapes = 16;
unsigned history_shape(const history_filter& filter);

// GET /history's query for a shape, newest first (ties: the later journaled first). Only fixed
// fragments go into the SQL; every value is a placeholder, bound from history_arguments(). One
// bot's grants are read by releases_by_bot (bot, released_at), every bot's by
// releases_by_released_at, a shard's by releases_by_shard.
std::string history_query(unsigned shape, dialect to);
// A placeholder's value: the bot's name is the one text.
using argument = std::variant<std::int64_t, std::string>;
// The values of history_query(history_shape(filter), ...)'s placeholders, $1 first.
std::vector<argument> history_arguments(const history_filter& filter);
// A row of history_query().
release_record read_release(const row auto& r) {
  release_record record;
  record.released_at = r.integer(0);
  if (!r.is_null(1)) record.shard = static_cast<std::uint64_t>(r.integer(1));
  record.bucket = static_cast<std::uint32_t>(r.integer(2));
  record.max_concurrency = static_cast<std::uint32_t>(r.integer(3));
  record.waited_ms = r.integer(4);
  record.bot = r.text(8);
  if (!r.is_null(5)) {
    if (auto result = parse_outcome_result(r.text(5))) {
      grant_outcome outcome{*result, std::nullopt, r.integer(7)};
      if (!r.is_null(6)) outcome.code = static_cast<std::uint32_t>(r.integer(6));
      record.outcome = outcome;
    }
  }
  return record;
}

}  // namespace gq::storage::sql
