#pragma once
// The server's journal as bench/load reads it: every `releases` row, read-only, in id order
// (the format: docs/JOURNAL.md).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gq::bench {

struct journal_row {
  std::int64_t id, released_at;
  std::optional<std::int64_t> shard;
  std::int64_t bucket, max_concurrency, waited_ms;
};

// Every row, or nullopt with `err` set when the file cannot be opened or queried.
std::optional<std::vector<journal_row>> read_journal(const std::string& path, std::string& err);

}  // namespace gq::bench
