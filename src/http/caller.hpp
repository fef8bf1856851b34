#pragma once
// Who asks, and for which bot: the first step of routing a request in a queue that serves
// several bots (docs/HTTP_API.md, "Several bots").
//
// The caller is the operator (the bearer token is QUEUE_AUTH_TOKEN), a bot (one of the tokens of
// its auth_token_file) or anonymous (no token: only while QUEUE_AUTH_TOKEN is unset, and only for
// bots without tokens of their own). The request's bot is the token's bot; without a bot token,
// the one named by `?bot=NAME` or a path that begins `/bots/NAME/`; with none of these,
// `default` when that bot exists.

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "src/http/bot_directory.hpp"
#include "src/http/request_parser.hpp"
#include "src/http/response.hpp"

namespace gq::http {

enum class caller_kind : std::uint8_t { anonymous, operator_, bot };

struct caller {
  caller_kind kind = caller_kind::anonymous;
  // The request's bot: named, the token's, or `default`; null when there is none of these.
  const bot_directory::bot* bot = nullptr;
  // The request named its bot (or its token did): views show that bot alone.
  bool named = false;
  std::string path;  // the path without its /bots/NAME prefix

  // Whether this caller may see `b` (in /status's list, /metrics, the dashboard).
  bool may_see(const bot_directory::bot& b) const {
    if (kind == caller_kind::operator_) return true;
    if (kind == caller_kind::bot) return bot && bot->key == b.key;
    return !b.has_tokens;
  }
};

// A refusal: 401 (no or a wrong token), 403 (a bot's token naming another bot), 404 (no bot of
// that name) or 400 (the bot named twice, differently).
struct caller_refusal {
  response answer;
  bool unauthorized = false;  // 401, counted as an auth rejection; the rest as bad requests
};

// `operator_token`: QUEUE_AUTH_TOKEN. Probes and the dashboard page need no caller: the router
// answers them before asking.
std::variant<caller, caller_refusal> identify_caller(
    const request& r, const bot_directory& bots, const std::optional<std::string>& operator_token);

// The path of `r` without a /bots/NAME prefix, and the NAME (none without the prefix). The bare
// /bots/NAME is the root path.
std::pair<std::string, std::optional<std::string>> split_bot_prefix(std::string_view path);

}  // namespace gq::http
