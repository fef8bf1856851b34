// The HTTP edge's read-only answers: /status and /metrics (asked of the gate) and /history (of
// the archive), each finished by finish_async when the answer comes; /dashboard at once.
// (The rest of edge_state: http_edge.cpp, http_edge_grants.cpp.)
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_edge.hpp"
#include "src/http/dashboard.hpp"
#include "src/http/history_json.hpp"
#include "src/http/query.hpp"

namespace gq {

bool edge_state::answer_status(handle hdl, connection& conn, bool as_metrics, std::uint64_t shard) {
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

bool edge_state::answer_dashboard(handle hdl, connection& conn) {
  http::response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string{http::dashboard_html()};
  // Everything is inline; the page may talk to this queue only.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src "
                         "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                         "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-store");
  return respond(hdl, conn, r);
}

bool edge_state::answer_history(handle hdl, connection& conn, std::string_view query) {
  auto filter = http::parse_history_filter(query);
  if (auto* error = std::get_if<http::query_error>(&filter)) {
    counters_.count(rejection::bad_request);
    return respond(hdl, conn, http::json_error(400, error->message));
  }
  conn.busy = true;
  const auto serial = conn.serial;
  auto self = self_;
  self_
      ->request(config_.archive, caf::infinite, history_atom::value,
                history_query::from(std::get<history_filter>(filter)))
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

bool edge_state::answer_outcome(handle hdl, connection& conn, const http::request& request) {
  if (request.method != "POST") {
    counters_.count(rejection::bad_request);
    auto r = http::json_error(405, "/outcome takes POST");
    r.headers.emplace_back("Allow", "POST");
    return respond(hdl, conn, r);
  }
  auto parsed = http::parse_outcome(request.query);
  if (auto* error = std::get_if<http::query_error>(&parsed)) {
    counters_.count(rejection::bad_request);
    return respond(hdl, conn, http::json_error(400, error->message));
  }
  if (shutting_down_) return respond(hdl, conn, stopping_response());
  if (!counters_.active) {
    return respond(hdl, conn, standby_response());
  }
  const auto& query = std::get<http::outcome_query>(parsed);
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
            st.finish_async(hdl, serial,
                            http::with_retry_after(
                                http::json_error(503, "journal unavailable, nothing recorded"), 1));
          },
          [self, hdl, serial](caf::error&) {
            self->state.finish_async(
                hdl, serial,
                http::with_retry_after(http::json_error(503, "outcome not recorded"), 1));
          });
  return true;
}

}  // namespace gq
