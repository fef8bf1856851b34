#include "storage/sql.hpp"

#include <cctype>

namespace gq::storage::sql {

std::string for_dialect(std::string_view text, dialect to) {
  std::string out(text);
  if (to == dialect::sqlite) {
    for (std::size_t at = 0; at + 1 < out.size(); ++at) {
      if (out[at] == '$' && std::isdigit(static_cast<unsigned char>(out[at + 1])) != 0) {
        out[at] = '?';
      }
    }
  }
  return out;
}

unsigned history_shape(const history_filter& filter) {
  return (filter.shard ? k_by_shard : 0u) | (filter.since ? k_by_since : 0u) |
         (filter.until ? k_by_until : 0u) | (filter.bot ? k_by_bot : 0u);
}

std::string history_query(unsigned shape, dialect to) {
  std::string sql =
      "SELECT released_at, shard, bucket, max_concurrency, waited_ms, outcome, outcome_code, "
      "outcome_at, bot FROM releases";
  int placeholders = 0;
  const auto next = [&] { return "$" + std::to_string(++placeholders); };
  const char* glue = " WHERE ";
  const auto add = [&](const char* condition) {
    sql.append(glue).append(condition).append(next());
    glue = " AND ";
  };
  if ((shape & k_by_bot) != 0) add("bot = ");
  if ((shape & k_by_shard) != 0) add("shard = ");
  if ((shape & k_by_since) != 0) add("released_at >= ");
  if ((shape & k_by_until) != 0) add("released_at <= ");
  sql += " ORDER BY released_at DESC, id DESC LIMIT " + next();
  return for_dialect(sql, to);
}

std::vector<argument> history_arguments(const history_filter& filter) {
  std::vector<argument> arguments;
  if (filter.bot) arguments.emplace_back(*filter.bot);
  if (filter.shard) arguments.emplace_back(static_cast<std::int64_t>(*filter.shard));
  if (filter.since) arguments.emplace_back(*filter.since);
  if (filter.until) arguments.emplace_back(*filter.until);
  arguments.emplace_back(std::int64_t{filter.limit});
  return arguments;
}

}  // namespace gq::storage::sql
