#include "src/http/route.hpp"

#include <nlohmann/json.hpp>

#include "src/http/authorization.hpp"
#include "src/http/dashboard.hpp"

namespace gq::http {

namespace {

immediate json_answer(int status, const nlohmann::json& body) {
  response r;
  r.status = status;
  r.body = body.dump();
  return {std::move(r), std::nullopt};
}

immediate refusal(response r, rejection counted) { return {std::move(r), counted}; }

immediate bad_request(const query_error& error) {
  return refusal(json_error(400, error.message), rejection::bad_request);
}

immediate dashboard() {
  response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string{dashboard_html()};
  // Everything is inline; the page may talk to this queue only.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src "
                         "'unsafe-inline'; connect-src 'self'; img-src data:; "
                         "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-store");
  return {std::move(r), std::nullopt};
}

action outcome(const request& r, const edge_view& edge) {
  if (r.method != "POST") {
    auto answer = json_error(405, "/outcome takes POST");
    answer.headers.emplace_back("Allow", "POST");
    return refusal(std::move(answer), rejection::bad_request);
  }
  auto parsed = parse_outcome(r.query);
  if (auto* error = std::get_if<query_error>(&parsed)) return bad_request(*error);
  if (edge.stopping) return immediate{retry_soon(k_stopping_message), std::nullopt};
  if (!edge.active) return immediate{retry_soon(k_standby_message), std::nullopt};
  return outcome_request{std::get<outcome_query>(parsed)};
}

action queue(const request& r, const edge_view& edge) {
  auto shard = parse_shard(r.query);
  if (auto* error = std::get_if<query_error>(&shard)) return bad_request(*error);
  auto initial = parse_initial(r.query);
  if (auto* error = std::get_if<query_error>(&initial)) return bad_request(*error);
  if (edge.stopping) return refusal(retry_soon(k_stopping_message), rejection::shutdown);
  if (!edge.active) return refusal(retry_soon(k_standby_message), rejection::standby);
  if (edge.full)
    return refusal(with_retry_after(json_error(503, "too many waiters, retry later"),
                                    k_queue_full_retry_after_s),
                   rejection::full);
  return queue_request{std::get<shard_id>(shard), std::get<bool>(initial)};
}

}  // namespace

action route(const request& r, const edge_view& edge) {
  // Probes need no token: /health says the process serves, /ready that it takes waiters. A
  // Kubernetes httpGet probe cannot easily carry a secret header, and neither answer tells more
  // than that the port is open and the queue active.
  if (r.path == "/health") return json_answer(200, {{"status", "ok"}});
  if (r.path == "/ready") {
    // Only the active queue takes waiters, and not while it stops.
    if (edge.stopping) return json_answer(503, {{"status", "stopping"}});
    if (!edge.active) return json_answer(503, {{"status", "standby"}});
    return json_answer(200, {{"status", "ready"}});
  }
  // The page holds no queue data and a browser cannot attach a bearer token to a navigation: it
  // is served without one and asks the user for it (docs/HTTP_API.md).
  if (r.path == "/dashboard") return dashboard();
  if (edge.auth_token && !bearer_matches(r.authorization, *edge.auth_token)) {
    auto answer = json_error(401, "missing or wrong bearer token");
    answer.headers.emplace_back("WWW-Authenticate", "Bearer");
    return refusal(std::move(answer), rejection::auth);
  }
  if (r.path == "/metrics") return status_request{{}, true};
  if (r.path == "/status") {
    auto shard = parse_shard(r.query);
    if (auto* error = std::get_if<query_error>(&shard))
      return immediate{json_error(400, error->message), std::nullopt};
    return status_request{std::get<shard_id>(shard), false};
  }
  if (r.path == "/outcome") return outcome(r, edge);
  if (r.path == "/history") {
    if (!edge.active) return immediate{retry_soon(k_standby_message), std::nullopt};
    auto filter = parse_history_filter(r.query);
    if (auto* error = std::get_if<query_error>(&filter)) return bad_request(*error);
    return history_request{std::get<history_filter>(filter)};
  }
  return queue(r, edge);
}

}  // namespace gq::http
