#include "src/http/history_json.hpp"

#include <nlohmann/json.hpp>

namespace gq::http {

nlohmann::json history_json(const std::vector<release_record>& releases) {
  auto rows = nlohmann::json::array();
  for (const release_record& record : releases) {
    rows.push_back({
        {"released_at", record.released_at},
        {"shard", record.shard ? nlohmann::json(*record.shard) : nlohmann::json(nullptr)},
        {"bucket", record.bucket},
        {"max_concurrency", record.max_concurrency},
        {"waited_ms", record.waited_ms},
        {"outcome", nullptr},
        {"outcome_code", nullptr},
        {"outcome_ms", nullptr},
        {"bot", record.bot},
    });
    if (const auto& o = record.outcome) {
      auto& row = rows.back();
      row["outcome"] = to_string(o->result);
      if (o->code) row["outcome_code"] = *o->code;
      row["outcome_ms"] = o->reported_at - record.released_at;
    }
  }
  return nlohmann::json{{"releases", std::move(rows)}};
}

}  // namespace gq::http
