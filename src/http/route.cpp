#include "src/http/route.hpp"

#include <nlohmann/json.hpp>

#include "src/http/caller.hpp"
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

// The one bot a queue request or an outcome acts for.
std::optional<immediate> without_bot(const caller& who) {
  if (who.bot) return std::nullopt;
  return refusal(json_error(400, "name a bot: ?bot=NAME, a path /bots/NAME/ or a bot's token"),
                 rejection::bad_request);
}

action outcome(const request& r, const caller& who, const edge_view& edge) {
  if (r.method != "POST") {
    auto answer = json_error(405, "/outcome takes POST");
    answer.headers.emplace_back("Allow", "POST");
    return refusal(std::move(answer), rejection::bad_request);
  }
  auto parsed = parse_outcome(r.query);
  if (auto* error = std::get_if<query_error>(&parsed)) return bad_request(*error);
  if (auto refused = without_bot(who)) return *refused;
  if (edge.stopping) return immediate{retry_soon(k_stopping_message), std::nullopt};
  if (!edge.active) return immediate{retry_soon(k_standby_message), std::nullopt};
  return outcome_request{who.bot->key, std::get<outcome_query>(parsed)};
}

action queue(const request& r, const caller& who, const edge_view& edge) {
  auto shard = parse_shard(r.query);
  if (auto* error = std::get_if<query_error>(&shard)) return bad_request(*error);
  auto initial = parse_initial(r.query);
  if (auto* error = std::get_if<query_error>(&initial)) return bad_request(*error);
  if (auto refused = without_bot(who)) return *refused;
  if (edge.stopping) return refusal(retry_soon(k_stopping_message), rejection::shutdown);
  if (!edge.active) return refusal(retry_soon(k_standby_message), rejection::standby);
  if (edge.full(who.bot->key))
    return refusal(with_retry_after(json_error(503, "too many waiters, retry later"),
                                    k_queue_full_retry_after_s),
                   rejection::full);
  return queue_request{who.bot->key, std::get<shard_id>(shard), std::get<bool>(initial)};
}

// The bots the caller may see, by name.
std::vector<bot_key> visible(const caller& who, const bot_directory& bots) {
  std::vector<bot_key> keys;
  for (const auto& [name, b] : bots.bots()) {
    if (who.may_see(b)) keys.push_back(b.key);
  }
  return keys;
}

action status(const request& r, const caller& who, const edge_view& edge, bool as_metrics) {
  status_request asked;
  asked.as_metrics = as_metrics;
  asked.queue_wide = who.kind != caller_kind::bot && !who.named;
  if (who.named) {
    asked.bot = who.bot->key;
    if (as_metrics) asked.listed = {who.bot->key};
  } else {
    if (who.bot) asked.bot = who.bot->key;
    asked.listed = visible(who, edge.bots);
  }
  if (!as_metrics) {
    auto shard = parse_shard(r.query);
    if (auto* error = std::get_if<query_error>(&shard))
      return immediate{json_error(400, error->message), std::nullopt};
    asked.shard = std::get<shard_id>(shard);
  }
  return asked;
}

action history(const request& r, const caller& who, const edge_view& edge) {
  if (!edge.active) return immediate{retry_soon(k_standby_message), std::nullopt};
  auto parsed = parse_history_filter(r.query);
  if (auto* error = std::get_if<query_error>(&parsed)) return bad_request(*error);
  auto filter = std::get<history_filter>(std::move(parsed));
  // Every bot's grants only for a caller who sees every bot and named none.
  const bool sees_all = visible(who, edge.bots).size() == edge.bots.bots().size();
  if (who.named || !sees_all) {
    if (auto refused = without_bot(who)) return *refused;
    filter.bot = who.bot->name;
  }
  return history_request{std::move(filter)};
}

}  // namespace

action route(const request& r, const edge_view& edge) {
  const auto path = split_bot_prefix(r.path).first;
  // Probes need no token: /health says the process serves, /ready that it takes waiters. A
  // Kubernetes httpGet probe cannot easily carry a secret header, and neither answer tells more
  // than that the port is open and the queue active.
  if (path == "/health") return json_answer(200, {{"status", "ok"}});
  if (path == "/ready") {
    // Only the active queue takes waiters, and not while it stops.
    if (edge.stopping) return json_answer(503, {{"status", "stopping"}});
    if (!edge.active) return json_answer(503, {{"status", "standby"}});
    return json_answer(200, {{"status", "ready"}});
  }
  // The page holds no queue data and a browser cannot attach a bearer token to a navigation: it
  // is served without one and asks the user for it (docs/HTTP_API.md).
  if (path == "/dashboard") return dashboard();
  auto identified = identify_caller(r, edge.bots, edge.auth_token);
  if (auto* refused = std::get_if<caller_refusal>(&identified)) {
    return refusal(std::move(refused->answer),
                   refused->unauthorized ? rejection::auth : rejection::bad_request);
  }
  const auto& who = std::get<caller>(identified);
  if (path == "/metrics") return status(r, who, edge, true);
  if (path == "/status") return status(r, who, edge, false);
  if (path == "/outcome") return outcome(r, who, edge);
  if (path == "/history") return history(r, who, edge);
  return queue(r, who, edge);
}

}  // namespace gq::http
