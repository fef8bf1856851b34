#include "storage/sqlite/history.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "storage/errors.hpp"
#include "storage/sql.hpp"
#include "storage/sqlite/connection.hpp"
#include "storage/sqlite/schema.hpp"
#include "storage/sqlite/statement.hpp"
#include "storage/sqlite/transaction.hpp"

namespace gq::storage {

namespace {

sqlite::connection open_history(const std::string& path) {
  // No SQLITE_OPEN_CREATE: a mistyped path must be an error, not a new empty journal.
  sqlite::connection db(path, SQLITE_OPEN_READWRITE);
  db.exec("PRAGMA busy_timeout = " + std::to_string(sqlite::k_busy_timeout_ms),
          "setting busy_timeout");
  sqlite::check_current(db, sqlite::inspect(db));
  // Pruning may lose its last batch on power loss; the next prune deletes those rows again.
  // The journal's own commits were synced when they were made, and WAL stays consistent under
  // NORMAL, so nothing else is at stake.
  db.exec("PRAGMA synchronous = NORMAL", "setting synchronous");
  return db;
}

}  // namespace

struct history::impl {
  explicit impl(const std::string& path)
      : db(open_history(path)),
        transactions(db),
        prune(db, sql::for_dialect(sql::k_prune, sql::dialect::sqlite), "pruning old grants") {
    for (unsigned shape = 0; shape < sql::k_history_shapes; ++shape)
      queries[shape].emplace(db, sql::history_query(shape, sql::dialect::sqlite),
                             "querying grants");
  }

  // One connection serves every caller (HTTP handler threads): calls take turns.
  std::mutex mutex;
  // Declared before the statements: destroyed after them.
  sqlite::connection db;
  sqlite::transaction_statements transactions;
  sqlite::statement prune;
  // Prepared at open, one per shape of filter (sql::history_shape).
  std::array<std::optional<sqlite::statement>, sql::k_history_shapes> queries;
};

history::history(const std::string& path) : impl_(std::make_unique<impl>(path)) {}
history::~history() = default;
history::history(history&&) noexcept = default;
history& history::operator=(history&&) noexcept = default;

std::vector<release_record> history::query(const history_filter& filter) {
  detail::check_history_filter(impl_->db.path(), filter);
  return read(filter);
}

std::vector<release_record> history::read(const history_filter& filter) {
  std::vector<release_record> releases;
  const std::lock_guard lock(impl_->mutex);
  auto rows = impl_->queries[sql::history_shape(filter)]->use();
  int index = 0;
  for (const sql::argument& argument : sql::history_arguments(filter)) {
    ++index;
    if (const auto* integer = std::get_if<std::int64_t>(&argument)) {
      rows.bind_int(index, *integer);
    } else {
      rows.bind_text(index, std::get<std::string>(argument));
    }
  }
  releases.reserve(std::min<std::uint32_t>(filter.limit, 1024));
  while (rows.step()) releases.push_back(sql::read_release(rows));
  return releases;
}

std::uint64_t history::prune_before(unix_ms cutoff, std::uint32_t batch) {
  const std::lock_guard lock(impl_->mutex);
  sqlite::write_transaction transaction(impl_->transactions);
  impl_->prune.use().bind_int(1, cutoff).bind_int(2, batch).run();
  const auto deleted = static_cast<std::uint64_t>(sqlite3_changes64(impl_->db.get()));
  transaction.commit();
  return deleted;
}

}  // namespace gq::storage
