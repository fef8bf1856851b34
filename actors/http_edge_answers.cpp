// The HTTP edge's asked answers: /status and /metrics (asked of the gate), /history (of the
// archive) and /outcome (journaled through the gate), each finished by finish_async when the
// answer comes. What is answered at once is decided in src/http/route.cpp.
// (The rest of edge_state: http_edge.cpp, http_edge_grants.cpp, http_edge_role.cpp.)
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_edge.hpp"
#include "src/http/history_json.hpp"

namespace gq {

bool edge_state::answer_status(handle hdl, connection& conn, const http::status_request& request) {
  const auto as_metrics = request.as_metrics;
  const auto shard = request.shard;
  if (!counters_.active) {
    // A standby knows no queue: an empty status, which says active false (and, asked about a
    // shard, that it cannot tell where the shard stands).
    queue_status empty;
    empty.shard = shard;
    http::response r;
    if (as_metrics) {
      r.content_type = "text/plain; version=0.0.4";
      r.body = render_metrics(empty, counters_, now_unix());
    } else {
      r.body = render_status_json(empty, counters_);
    }
    return respond(hdl, conn, r);
  }
  conn.busy = true;
  const auto serial = conn.serial;
  auto self = self_;
  self_->request(config_.gate, caf::infinite, status_atom::value, shard)
      .then(
          [self, hdl, serial, as_metrics](const queue_status& status) {
            auto& st = self->state;
            http::response r;
            if (as_metrics) {
              r.content_type = "text/plain; version=0.0.4";
              r.body = render_metrics(status, st.counters_, st.now_unix());
            } else {
              r.body = render_status_json(status, st.counters_);
            }
            st.finish_async(hdl, serial, r);
          },
          [self, hdl, serial](caf::error&) {
            self->state.finish_async(hdl, serial, http::json_error(503, "status unavailable"));
          });
  return true;
}

bool edge_state::answer_history(handle hdl, connection& conn,
                                const http::history_request& request) {
  conn.busy = true;
  const auto serial = conn.serial;
  auto self = self_;
  self_
      ->request(config_.archive, caf::infinite, history_atom::value,
                history_query::from(request.filter))
      .then(
          [self, hdl, serial](const std::vector<release_record>& releases) {
            http::response r;
            r.body = http::history_json(releases).dump();
            self->state.finish_async(hdl, serial, r);
          },
          [self, hdl, serial](caf::error&) {
            self->state.finish_async(hdl, serial, http::json_error(503, "history unavailable"));
          });
  return true;
}

bool edge_state::answer_outcome(handle hdl, connection& conn,
                                const http::outcome_request& request) {
  const auto& query = request.query;
  const outcome_report report{query.shard, {query.result, query.code, now_unix()}};
  conn.busy = true;
  const auto serial = conn.serial;
  auto self = self_;
  self_->request(config_.gate, caf::infinite, outcome_atom::value, report)
      .then(
          [self, hdl, serial, report](const outcome_receipt& receipt) {
            auto& st = self->state;
            switch (receipt.answer) {
              case outcome_answer::journaled:
                st.counters_.count(report.outcome.result);
                st.finish_async(hdl, serial, http::no_content());
                return;
              case outcome_answer::no_grant:
                st.finish_async(
                    hdl, serial,
                    http::json_error(409, "no grant of shard " + std::to_string(report.shard) +
                                              " in the last 10 minutes"));
                return;
              case outcome_answer::unavailable:
                break;
            }
            st.finish_async(hdl, serial, http::retry_soon("journal unavailable, nothing recorded"));
          },
          [self, hdl, serial](caf::error&) {
            self->state.finish_async(hdl, serial, http::retry_soon("outcome not recorded"));
          });
  return true;
}

}  // namespace gq
