#pragma once
// The body of GET /history and the output of `gateway-queue history`: journal records as the
// HTTP API shows them (docs/HTTP_API.md).

#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "src/core/records.hpp"

namespace gq::http {

// {"releases": [{"released_at", "shard", "bucket", "max_concurrency", "waited_ms"}, ...]} in the
// order given, with "shard": null when the grant carried none.
nlohmann::json history_json(const std::vector<release_record>& releases);

}  // namespace gq::http
