#pragma once
// The server's journal as bench/load reads it: every `releases` row, read-only (the format:
// docs/JOURNAL.md). A SQLite file is read directly, in id order. A PostgreSQL journal
// (postgresql:// URI) is read through the journal's own history reads (storage::open_journal),
// oldest first, ties in journal order; per bucket that is id order too, because a bucket's grants
// are journaled in due order.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gq::bench {

struct journal_row {
  // SQLite: the row's id. PostgreSQL: its 1-based position in the order above (history reads do
  // not return ids); only used to order rows.
  std::int64_t id, released_at;
  std::optional<std::int64_t> shard;
  std::int64_t bucket, max_concurrency, waited_ms;
  std::string bot;  // whose bucket (journal v5)
};

// Every row, or nullopt with `err` set when the journal cannot be opened or queried. `location`
// is the server's QUEUE_DB: a SQLite file path or a postgresql:// URI.
std::optional<std::vector<journal_row>> read_journal(const std::string& location, std::string& err);

}  // namespace gq::bench
