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
    });
  }
  return nlohmann::json{{"releases", std::move(rows)}};
}

}  // namespace gq::http
