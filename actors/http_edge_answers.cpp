// The HTTP edge's asked answers: /status and /metrics (asked of each bot's gate), /history (of
// the archive) and /outcome (journaled through the bot's gate), each finished by finish_async when
// the answer comes. What is answered at once is decided in src/http/route.cpp. (The rest of
// edge_state: http_edge.cpp, http_edge_grants.cpp, http_edge_role.cpp.)
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_edge.hpp"
#include "src/http/history_json.hpp"

namespace gq {

namespace {

http::response metrics_response(std::string body) {
  http::response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = std::move(body);
  return r;
}

http::response json_response(std::string body) {
  http::response r;
  r.body = std::move(body);
  return r;
}

}  // namespace

edge_counters edge_state::counters_seen(const http::status_request& request) const {
  if (request.queue_wide) return counters_;
  // A bot's caller sees its own bot: not the connections or refusals of the others.
  edge_counters seen;
  seen.active = counters_.active;
  seen.auth_required = counters_.auth_required;
  if (request.bot) {
    if (auto found = waiting_.find(*request.bot); found != waiting_.end())
      seen.waiting = found->second;
  }
  return seen;
}

bool edge_state::answer_status(handle hdl, connection& conn, const http::status_request& request) {
  if (!counters_.active) {
    // A standby knows no queue and no bots: an empty status, which says active false (and, asked
    // about a shard, that it cannot tell where the shard stands).
    queue_status empty;
    empty.shard = request.shard;
    return respond(
        hdl, conn,
        request.as_metrics
            ? metrics_response(
                  render_metrics({}, request.queue_wide ? &counters_ : nullptr, now_unix()))
            : json_response(render_status_json(empty, counters_seen(request), k_default_bot)));
  }
  const auto& directory = config_.bots->directory;
  std::vector<std::string> listed;
  for (auto key : request.listed) listed.push_back(directory.find(key)->name);
  if (!request.as_metrics && !request.bot)
    return respond(hdl, conn, json_response(render_bots_json(counters_seen(request), listed)));

  // Every bot asked answers (or fails: then it is left out) before the answer is rendered.
  struct gathered {
    std::vector<queue_status> statuses;
    std::vector<bool> answered;
    std::size_t pending = 0;
  };
  const std::vector<bot_key> asked =
      request.as_metrics ? request.listed : std::vector<bot_key>{*request.bot};
  auto shared = std::make_shared<gathered>();
  shared->statuses.resize(asked.size());
  shared->answered.assign(asked.size(), false);
  shared->pending = asked.size();
  conn.busy = true;
  const auto serial = conn.serial;
  auto self = self_;
  auto finish = [self, hdl, serial, shared, request, asked, listed]() {
    auto& st = self->state;
    if (!request.as_metrics) {
      if (!shared->answered[0]) {
        st.finish_async(hdl, serial, http::json_error(503, "status unavailable"));
        return;
      }
      const auto* bot = st.config_.bots ? st.config_.bots->directory.find(asked[0]) : nullptr;
      st.finish_async(
          hdl, serial,
          json_response(render_status_json(shared->statuses[0], st.counters_seen(request),
                                           bot ? bot->name : "", listed)));
      return;
    }
    std::vector<bot_metrics> bots;
    for (std::size_t i = 0; i < asked.size(); ++i) {
      if (!shared->answered[i]) continue;
      const auto* bot = st.config_.bots ? st.config_.bots->directory.find(asked[i]) : nullptr;
      if (!bot) continue;  // removed meanwhile
      const auto waiting = st.waiting_.find(asked[i]);
      bots.push_back(
          {bot->name, &shared->statuses[i], waiting == st.waiting_.end() ? 0 : waiting->second});
    }
    st.finish_async(hdl, serial,
                    metrics_response(render_metrics(
                        bots, request.queue_wide ? &st.counters_ : nullptr, st.now_unix())));
  };
  if (asked.empty()) {
    finish();
    return true;
  }
  for (std::size_t i = 0; i < asked.size(); ++i) {
    const auto* gate = gate_of(asked[i]);
    if (!gate) {
      if (--shared->pending == 0) finish();
      continue;
    }
    const auto shard = request.as_metrics ? shard_id{} : request.shard;
    self_->request(*gate, caf::infinite, status_atom::value, shard)
        .then(
            [shared, finish, i](const queue_status& status) {
              shared->statuses[i] = status;
              shared->answered[i] = true;
              if (--shared->pending == 0) finish();
            },
            [shared, finish](caf::error&) {
              if (--shared->pending == 0) finish();
            });
  }
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
  const auto* gate = gate_of(request.bot);
  if (!gate) return respond(hdl, conn, http::retry_soon(http::k_stopping_message));
  self_->request(*gate, caf::infinite, outcome_atom::value, report)
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
