#include "src/http/caller.hpp"

#include "src/http/authorization.hpp"
#include "src/http/query.hpp"

namespace gq::http {

namespace {

constexpr std::string_view k_prefix = "/bots/";

caller_refusal unauthorized() {
  auto answer = json_error(401, "missing or wrong bearer token");
  answer.headers.emplace_back("WWW-Authenticate", "Bearer");
  return {std::move(answer), true};
}

caller_refusal refused(int status, std::string_view message) {
  return {json_error(status, message), false};
}

}  // namespace

std::pair<std::string, std::optional<std::string>> split_bot_prefix(std::string_view path) {
  if (!path.starts_with(k_prefix)) return {std::string(path), std::nullopt};
  const auto rest = path.substr(k_prefix.size());
  const auto slash = rest.find('/');
  std::string name(rest.substr(0, slash));
  std::string remaining = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  return {std::move(remaining), std::move(name)};
}

std::variant<caller, caller_refusal> identify_caller(
    const request& r, const bot_directory& bots, const std::optional<std::string>& operator_token) {
  caller who;
  auto [path, from_path] = split_bot_prefix(r.path);
  who.path = std::move(path);
  auto from_query = parse_bot(r.query);
  if (auto* error = std::get_if<query_error>(&from_query)) return refused(400, error->message);
  auto named = std::get<std::optional<std::string>>(std::move(from_query));
  if (from_path && named && *from_path != *named)
    return refused(400, "the path and ?bot= name different bots");
  if (from_path) named = std::move(from_path);

  // Who asks. Without any token configured the queue is open and a header changes nothing.
  if (!r.authorization.empty() && (operator_token || bots.any_tokens())) {
    if (operator_token && bearer_matches(r.authorization, *operator_token)) {
      who.kind = caller_kind::operator_;
    } else if (auto token = bearer_token(r.authorization); token && bots.owner(*token)) {
      who.kind = caller_kind::bot;
      who.bot = bots.owner(*token);
      who.named = true;
      // A bot's token acts for its bot alone; naming any other (known or not) is forbidden.
      if (named && *named != who.bot->name)
        return refused(403, "this token belongs to another bot");
      return who;
    } else {
      return unauthorized();
    }
  } else if (operator_token) {
    return unauthorized();
  }

  if (named) {
    who.bot = bots.find(*named);
    if (!who.bot) return refused(404, "no bot of that name");
    who.named = true;
  } else {
    who.bot = bots.default_bot();
  }
  // Anonymous callers reach only the bots without tokens of their own.
  if (who.kind == caller_kind::anonymous && who.bot && who.bot->has_tokens) {
    if (who.named) return unauthorized();
    who.bot = nullptr;
  }
  return who;
}

}  // namespace gq::http
