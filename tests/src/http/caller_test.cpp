// Who asks and for which bot (src/http/caller.hpp), and how the router turns that into a bot's
// request, a view limited to what the caller may see, or a refusal.
#include "src/http/caller.hpp"

#include <gtest/gtest.h>

#include "src/http/route.hpp"

namespace gq::http {
namespace {

request get(std::string path, std::string query = {}, std::string authorization = {}) {
  return {"GET", std::move(path), std::move(query), std::move(authorization), true};
}

// Two bots with tokens of their own and one open bot; no `default`.
bot_directory three_bots() {
  bot_directory bots;
  bots.add(1, "music", {"music-token"});
  bots.add(2, "logger", {"logger-token", "logger-token-2"});
  bots.add(3, "staging", {});
  return bots;
}

const std::optional<std::string> no_operator;
const std::optional<std::string> operator_token = std::string{"operator-token"};

int status_of(const std::variant<caller, caller_refusal>& identified) {
  if (const auto* refused = std::get_if<caller_refusal>(&identified)) return refused->answer.status;
  return 0;
}

// A copy: the variant is often a temporary that ends with the statement.
caller who(const std::variant<caller, caller_refusal>& identified) {
  EXPECT_TRUE(std::holds_alternative<caller>(identified)) << status_of(identified);
  return std::holds_alternative<caller>(identified) ? std::get<caller>(identified) : caller{};
}

TEST(caller, a_bots_token_picks_its_bot_and_may_name_only_that_bot) {
  const auto bots = three_bots();
  const auto& music =
      who(identify_caller(get("/", "shard=1", "Bearer music-token"), bots, operator_token));
  EXPECT_EQ(music.kind, caller_kind::bot);
  ASSERT_NE(music.bot, nullptr);
  EXPECT_EQ(music.bot->name, "music");
  EXPECT_EQ(who(identify_caller(get("/", "bot=logger", "Bearer logger-token-2"), bots, no_operator))
                .bot->name,
            "logger");
  // Naming another bot, existing or not, by ?bot= or by path: forbidden.
  for (const auto& r : {get("/", "bot=logger", "Bearer music-token"),
                        get("/bots/logger/", "", "Bearer music-token"),
                        get("/", "bot=nobody", "Bearer music-token")}) {
    EXPECT_EQ(status_of(identify_caller(r, bots, operator_token)), 403) << r.path << r.query;
  }
}

TEST(caller, a_wrong_token_is_401_and_no_token_is_401_when_the_operator_has_one) {
  const auto bots = three_bots();
  EXPECT_EQ(status_of(identify_caller(get("/", "", "Bearer guess"), bots, no_operator)), 401);
  EXPECT_EQ(status_of(identify_caller(get("/", "bot=staging"), bots, operator_token)), 401);
  // Without an operator token an open bot is open; a bot with tokens is not.
  EXPECT_EQ(who(identify_caller(get("/", "bot=staging"), bots, no_operator)).bot->name, "staging");
  EXPECT_EQ(status_of(identify_caller(get("/", "bot=music"), bots, no_operator)), 401);
}

TEST(caller, the_operator_acts_for_any_bot_and_an_unknown_one_is_404) {
  const auto bots = three_bots();
  const auto auth = std::string{"Bearer operator-token"};
  const auto& op = who(identify_caller(get("/", "bot=music", auth), bots, operator_token));
  EXPECT_EQ(op.kind, caller_kind::operator_);
  EXPECT_EQ(op.bot->name, "music");
  EXPECT_EQ(status_of(identify_caller(get("/", "bot=nobody", auth), bots, operator_token)), 404);
  EXPECT_EQ(status_of(identify_caller(get("/", "bot=a&bot=b", auth), bots, operator_token)), 400);
  EXPECT_EQ(
      status_of(identify_caller(get("/bots/music/", "bot=logger", auth), bots, operator_token)),
      400);
}

TEST(caller, a_path_prefix_names_the_bot_and_is_taken_off_the_path) {
  EXPECT_EQ(split_bot_prefix("/bots/music/outcome"),
            (std::pair<std::string, std::optional<std::string>>{"/outcome", "music"}));
  EXPECT_EQ(split_bot_prefix("/bots/music"),
            (std::pair<std::string, std::optional<std::string>>{"/", "music"}));
  EXPECT_EQ(split_bot_prefix("/status"),
            (std::pair<std::string, std::optional<std::string>>{"/status", std::nullopt}));
}

edge_view view_of(const bot_directory& bots, const std::optional<std::string>& operator_auth) {
  return {operator_auth, bots, true, false, [](bot_key) { return false; }};
}

TEST(route_bots, a_queue_request_belongs_to_its_bot_and_without_one_is_400) {
  const auto bots = three_bots();
  const auto a = route(get("/bots/staging/", "shard=4"), view_of(bots, no_operator));
  ASSERT_TRUE(std::holds_alternative<queue_request>(a));
  EXPECT_EQ(std::get<queue_request>(a).bot, 3u);
  EXPECT_EQ(std::get<queue_request>(a).shard, 4u);
  const auto by_token =
      route(get("/", "shard=4", "Bearer logger-token"), view_of(bots, no_operator));
  ASSERT_TRUE(std::holds_alternative<queue_request>(by_token));
  EXPECT_EQ(std::get<queue_request>(by_token).bot, 2u);
  // No default bot and none named.
  const auto none = route(get("/", "shard=4"), view_of(bots, no_operator));
  ASSERT_TRUE(std::holds_alternative<immediate>(none));
  EXPECT_EQ(std::get<immediate>(none).answer.status, 400);
}

TEST(route_bots, one_full_bot_does_not_refuse_another) {
  const auto bots = three_bots();
  edge_view view = view_of(bots, no_operator);
  view.full = [](bot_key bot) { return bot == 2; };
  const auto full = route(get("/", "", "Bearer logger-token"), view);
  ASSERT_TRUE(std::holds_alternative<immediate>(full));
  EXPECT_EQ(std::get<immediate>(full).answer.status, 503);
  EXPECT_TRUE(
      std::holds_alternative<queue_request>(route(get("/", "", "Bearer music-token"), view)));
}

TEST(route_bots, a_bots_caller_sees_its_bot_alone_and_the_operator_sees_every_bot) {
  const auto bots = three_bots();
  const auto mine = route(get("/metrics", "", "Bearer music-token"), view_of(bots, operator_token));
  ASSERT_TRUE(std::holds_alternative<status_request>(mine));
  EXPECT_EQ(std::get<status_request>(mine).listed, std::vector<bot_key>{1});
  EXPECT_FALSE(std::get<status_request>(mine).queue_wide);
  const auto all =
      route(get("/metrics", "", "Bearer operator-token"), view_of(bots, operator_token));
  ASSERT_TRUE(std::holds_alternative<status_request>(all));
  EXPECT_EQ(std::get<status_request>(all).listed, (std::vector<bot_key>{2, 1, 3}));  // by name
  EXPECT_TRUE(std::get<status_request>(all).queue_wide);
  // An overview without a default bot: the list alone.
  const auto overview =
      route(get("/status", "", "Bearer operator-token"), view_of(bots, operator_token));
  ASSERT_TRUE(std::holds_alternative<status_request>(overview));
  EXPECT_FALSE(std::get<status_request>(overview).bot.has_value());
  // Anonymous callers see the open bots only.
  const auto open = route(get("/metrics"), view_of(bots, no_operator));
  EXPECT_EQ(std::get<status_request>(open).listed, std::vector<bot_key>{3});
}

TEST(route_bots, history_is_one_bots_unless_the_caller_sees_every_bot) {
  const auto bots = three_bots();
  const auto mine = route(get("/history", "", "Bearer music-token"), view_of(bots, operator_token));
  ASSERT_TRUE(std::holds_alternative<history_request>(mine));
  EXPECT_EQ(std::get<history_request>(mine).filter.bot, "music");
  const auto all =
      route(get("/history", "", "Bearer operator-token"), view_of(bots, operator_token));
  EXPECT_FALSE(std::get<history_request>(all).filter.bot.has_value());
  const auto one =
      route(get("/history", "bot=logger", "Bearer operator-token"), view_of(bots, operator_token));
  EXPECT_EQ(std::get<history_request>(one).filter.bot, "logger");
  // Anonymous, with bots it may not see: one open bot, named.
  const auto open = route(get("/history", "bot=staging"), view_of(bots, no_operator));
  EXPECT_EQ(std::get<history_request>(open).filter.bot, "staging");
  EXPECT_TRUE(
      std::holds_alternative<immediate>(route(get("/history"), view_of(bots, no_operator))));
}

}  // namespace
}  // namespace gq::http
