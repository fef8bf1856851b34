#include "storage/history.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>
#include <string>

#include "storage/connection.hpp"
#include "storage/schema.hpp"
#include "storage/statement.hpp"
#include "storage/transaction.hpp"

namespace gq::storage {

namespace {

detail::connection open_history(const std::string& path) {
  // No SQLITE_OPEN_CREATE: a mistyped path must be an error, not a new empty journal.
  detail::connection db(path, SQLITE_OPEN_READWRITE);
  db.exec("PRAGMA busy_timeout = " + std::to_string(detail::k_busy_timeout_ms),
          "setting busy_timeout");
  detail::check_current(db, detail::inspect(db));
  // Pruning may lose its last batch on power loss; the next prune deletes those rows again.
  // The journal's own commits were synced when they were made, and WAL stays consistent under
  // NORMAL, so nothing else is at stake.
  db.exec("PRAGMA synchronous = NORMAL", "setting synchronous");
  return db;
}

// The filters present in a query, as bits: each combination has its own prepared statement.
enum filter_bits : unsigned { k_by_shard = 1, k_by_since = 2, k_by_until = 4, k_shapes = 8 };

unsigned shape_of(const history_filter& filter) {
  return (filter.shard ? k_by_shard : 0u) | (filter.since ? k_by_since : 0u) |
         (filter.until ? k_by_until : 0u);
}

// Only fixed fragments go into the SQL; every value is a bound parameter.
std::string query_sql(unsigned shape) {
  std::string sql =
      "SELECT released_at, shard, bucket, max_concurrency, waited_ms, outcome, outcome_code, "
      "outcome_at FROM releases";
  const char* glue = " WHERE ";
  const auto add = [&](const char* condition) {
    sql.append(glue).append(condition);
    glue = " AND ";
  };
  if ((shape & k_by_shard) != 0) add("shard = :shard");
  if ((shape & k_by_since) != 0) add("released_at >= :since");
  if ((shape & k_by_until) != 0) add("released_at <= :until");
  sql += " ORDER BY released_at DESC, id DESC LIMIT :limit";
  return sql;
}

constexpr std::string_view k_prune =
    "DELETE FROM releases WHERE id IN "
    "(SELECT id FROM releases WHERE released_at < ?1 LIMIT ?2)";

}  // namespace

struct history::impl {
  explicit impl(const std::string& path)
      : db(open_history(path)), transactions(db), prune(db, k_prune, "pruning old grants") {
    for (unsigned shape = 0; shape < k_shapes; ++shape)
      queries[shape].emplace(db, query_sql(shape), "querying grants");
  }

  // One connection serves every caller (HTTP handler threads): calls take turns.
  std::mutex mutex;
  // Declared before the statements: destroyed after them.
  detail::connection db;
  detail::transaction_statements transactions;
  detail::statement prune;
  // Prepared at open, one per shape of filter.
  std::array<std::optional<detail::statement>, k_shapes> queries;
};

history::history(const std::string& path) : impl_(std::make_unique<impl>(path)) {}
history::~history() = default;
history::history(history&&) noexcept = default;
history& history::operator=(history&&) noexcept = default;

std::vector<release_record> history::query(const history_filter& filter) {
  if (auto problem = history_filter_problem(filter)) impl_->db.fail("querying grants", *problem);
  std::vector<release_record> releases;
  const std::uint32_t limit = filter.limit;
  const std::lock_guard lock(impl_->mutex);
  auto read = impl_->queries[shape_of(filter)]->use();
  if (filter.shard) read.bind_int(":shard", static_cast<std::int64_t>(*filter.shard));
  if (filter.since) read.bind_int(":since", *filter.since);
  if (filter.until) read.bind_int(":until", *filter.until);
  read.bind_int(":limit", limit);
  releases.reserve(std::min<std::uint32_t>(limit, 1024));
  while (read.step()) {
    release_record& record = releases.emplace_back();
    record.released_at = read.column_int(0);
    if (!read.column_is_null(1)) record.shard = static_cast<std::uint64_t>(read.column_int(1));
    record.bucket = static_cast<std::uint32_t>(read.column_int(2));
    record.max_concurrency = static_cast<std::uint32_t>(read.column_int(3));
    record.waited_ms = read.column_int(4);
    if (!read.column_is_null(5)) {
      if (auto result = parse_outcome_result(read.column_text(5))) {
        grant_outcome outcome{*result, std::nullopt, read.column_int(7)};
        if (!read.column_is_null(6)) outcome.code = static_cast<std::uint32_t>(read.column_int(6));
        record.outcome = outcome;
      }
    }
  }
  return releases;
}

std::uint64_t history::prune_before(unix_ms cutoff, std::uint32_t batch) {
  // A zero batch would delete nothing and return `batch`, looping its caller forever.
  if (batch == 0) impl_->db.fail("pruning old grants", "batch size is 0");
  const std::lock_guard lock(impl_->mutex);
  detail::write_transaction transaction(impl_->transactions);
  impl_->prune.use().bind_int(1, cutoff).bind_int(2, batch).run();
  const auto deleted = static_cast<std::uint64_t>(sqlite3_changes64(impl_->db.get()));
  transaction.commit();
  return deleted;
}

}  // namespace gq::storage
