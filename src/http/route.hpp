#pragma once
// What the HTTP edge does with a whole request, decided without I/O: answer it at once, or ask
// the gate (a queue request, /status, /metrics, /outcome) or the archive (/history). Plain C++,
// tested without a network (tests/src/http/route_test.cpp); the edge does the asking.
// The contract: docs/HTTP_API.md.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "src/core/records.hpp"
#include "src/http/bot_directory.hpp"
#include "src/http/query.hpp"
#include "src/http/render.hpp"
#include "src/http/request_parser.hpp"
#include "src/http/response.hpp"

namespace gq::http {

// The default of QUEUE_MAX_WAITING: waiters held at once before new ones get 503.
inline constexpr std::uint64_t k_default_max_waiting = 100'000;
// The Retry-After (seconds) of that 503: a slot frees at the next grant, seconds away at worst.
inline constexpr std::int64_t k_queue_full_retry_after_s = 5;

// The 503 of a standby: it may be the active queue a moment later.
inline constexpr std::string_view k_standby_message =
    "standby: another gateway-queue holds the journal; ask the active one";
// The 503 of a stopping queue: a standby taking over, or this queue restarted, answers in a
// moment.
inline constexpr std::string_view k_stopping_message = "the queue is shutting down";

// What the edge is, as far as routing a request depends on it.
struct edge_view {
  const std::optional<std::string>& auth_token;  // QUEUE_AUTH_TOKEN: the operator's
  const bot_directory& bots;
  bool active = true;     // it takes waiters (a standby does not)
  bool stopping = false;  // the process is shutting down
  // QUEUE_MAX_WAITING waiters of this bot are held.
  std::function<bool(bot_key)> full = [](bot_key) { return false; };
};

// Answered at once; `counted` is the rejection it counts as, if any.
struct immediate {
  response answer;
  std::optional<rejection> counted;
};
// GET /status (`shard`: where that shard stands) or GET /metrics: asked of the bots' gates.
struct status_request {
  // /status: the bot whose status it is; none for an overview without a `default` bot.
  std::optional<bot_key> bot;
  // /status: the bots an overview lists (empty when a bot was named); /metrics: the bots whose
  // series it shows. Only bots the caller may see.
  std::vector<bot_key> listed;
  shard_id shard;
  bool as_metrics = false;
  // The caller may see what belongs to no bot: connections, refusals before a bot is known, the
  // journal's commits (the operator's view, or an open queue's).
  bool queue_wide = false;
};
// GET /history: asked of the archive.
struct history_request {
  history_filter filter;
};
// POST /outcome: journaled through the bot's gate.
struct outcome_request {
  bot_key bot = 0;
  outcome_query query;
};
// A queue request: waits in its bot's bucket until granted.
struct queue_request {
  bot_key bot = 0;
  shard_id shard;
  bool initial = false;  // a boot, not a reconnect (initial=true)
};

using action =
    std::variant<immediate, status_request, history_request, outcome_request, queue_request>;

action route(const request& r, const edge_view& edge);

}  // namespace gq::http
