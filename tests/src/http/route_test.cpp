#include "src/http/route.hpp"

#include <gtest/gtest.h>

namespace gq::http {
namespace {

request get(std::string path, std::string query = {}, std::string authorization = {}) {
  return {"GET", std::move(path), std::move(query), std::move(authorization), true};
}

const std::optional<std::string> no_token;
const std::optional<std::string> token = std::string{"s3cret"};

// The one bot of a queue without a bots file.
const bot_directory& one_bot() {
  static const bot_directory bots = [] {
    bot_directory d;
    d.add(0, "default", {});
    return d;
  }();
  return bots;
}

edge_view view(const std::optional<std::string>& auth, bool is_active, bool stopping, bool full) {
  return {auth, one_bot(), is_active, stopping, [full](bot_key) { return full; }};
}

edge_view active(const std::optional<std::string>& auth = no_token) {
  return view(auth, true, false, false);
}

immediate answered(const action& a) {
  EXPECT_TRUE(std::holds_alternative<immediate>(a)) << "expected an answer at once";
  return std::holds_alternative<immediate>(a) ? std::get<immediate>(a) : immediate{};
}

std::string header(const response& r, std::string_view name) {
  for (const auto& [key, value] : r.headers)
    if (key == name) return value;
  return {};
}

TEST(route, any_other_path_is_a_queue_request_with_its_shard_and_boot_flag) {
  auto a = route(get("/anything/at/all", "shard=7&initial=true"), active());
  ASSERT_TRUE(std::holds_alternative<queue_request>(a));
  EXPECT_EQ(std::get<queue_request>(a).shard, 7u);
  EXPECT_TRUE(std::get<queue_request>(a).initial);
  auto bare = route(get("/"), active());
  ASSERT_TRUE(std::holds_alternative<queue_request>(bare));
  EXPECT_EQ(std::get<queue_request>(bare).shard, std::nullopt);
  EXPECT_FALSE(std::get<queue_request>(bare).initial);
}

TEST(route, a_malformed_shard_or_boot_flag_is_400_counted_as_a_bad_request) {
  for (const auto* query :
       {"shard=-1", "shard=1&shard=2", "shard=9223372036854775808", "initial=yes"}) {
    const auto now = answered(route(get("/", query), active()));
    EXPECT_EQ(now.answer.status, 400) << query;
    EXPECT_EQ(now.counted, rejection::bad_request) << query;
  }
}

TEST(route, queue_requests_are_refused_while_stopping_on_a_standby_and_when_full) {
  const auto stopping = answered(route(get("/"), view(no_token, true, true, false)));
  EXPECT_EQ(stopping.answer.status, 503);
  EXPECT_EQ(header(stopping.answer, "Retry-After"), "1");
  EXPECT_EQ(stopping.counted, rejection::shutdown);
  const auto standby = answered(route(get("/"), view(no_token, false, false, false)));
  EXPECT_EQ(standby.answer.status, 503);
  EXPECT_EQ(header(standby.answer, "Retry-After"), "1");
  EXPECT_EQ(standby.counted, rejection::standby);
  const auto full = answered(route(get("/"), view(no_token, true, false, true)));
  EXPECT_EQ(full.answer.status, 503);
  EXPECT_EQ(header(full.answer, "Retry-After"), std::to_string(k_queue_full_retry_after_s));
  EXPECT_EQ(full.counted, rejection::full);
}

TEST(route, probes_and_the_dashboard_need_no_token) {
  EXPECT_EQ(answered(route(get("/health"), active(token))).answer.status, 200);
  EXPECT_EQ(answered(route(get("/ready"), active(token))).answer.status, 200);
  const auto page = answered(route(get("/dashboard"), active(token)));
  EXPECT_EQ(page.answer.status, 200);
  EXPECT_EQ(page.answer.content_type, "text/html; charset=utf-8");
  EXPECT_NE(header(page.answer, "Content-Security-Policy").find("default-src 'none'"),
            std::string::npos);
}

TEST(route, ready_is_503_on_a_standby_and_while_stopping) {
  EXPECT_EQ(answered(route(get("/ready"), view(no_token, false, false, false))).answer.status, 503);
  EXPECT_EQ(answered(route(get("/ready"), view(no_token, true, true, false))).answer.status, 503);
}

TEST(route, everything_else_needs_the_token_when_one_is_set) {
  for (const auto* path : {"/", "/status", "/metrics", "/history", "/outcome"}) {
    const auto now = answered(route(get(path), active(token)));
    EXPECT_EQ(now.answer.status, 401) << path;
    EXPECT_EQ(header(now.answer, "WWW-Authenticate"), "Bearer") << path;
    EXPECT_EQ(now.counted, rejection::auth) << path;
  }
  auto a = route(get("/", "shard=1", "Bearer s3cret"), active(token));
  EXPECT_TRUE(std::holds_alternative<queue_request>(a));
}

TEST(route, status_and_metrics_are_asked_of_the_bots_gates) {
  auto status = route(get("/status", "shard=12"), active());
  ASSERT_TRUE(std::holds_alternative<status_request>(status));
  EXPECT_EQ(std::get<status_request>(status).shard, 12u);
  EXPECT_FALSE(std::get<status_request>(status).as_metrics);
  EXPECT_EQ(std::get<status_request>(status).bot, bot_key{0}) << "the default bot";
  EXPECT_TRUE(std::get<status_request>(status).queue_wide);
  auto metrics = route(get("/metrics"), active());
  ASSERT_TRUE(std::holds_alternative<status_request>(metrics));
  EXPECT_TRUE(std::get<status_request>(metrics).as_metrics);
  EXPECT_EQ(answered(route(get("/status", "shard=x"), active())).answer.status, 400);
}

TEST(route, history_is_asked_of_the_archive_only_on_the_active_queue) {
  auto history = route(get("/history", "shard=3&limit=5"), active());
  ASSERT_TRUE(std::holds_alternative<history_request>(history));
  EXPECT_EQ(std::get<history_request>(history).filter.shard, 3u);
  EXPECT_EQ(std::get<history_request>(history).filter.limit, 5u);
  const auto bad = answered(route(get("/history", "limit=0"), active()));
  EXPECT_EQ(bad.answer.status, 400);
  EXPECT_EQ(bad.counted, rejection::bad_request);
  const auto standby = answered(route(get("/history"), view(no_token, false, false, false)));
  EXPECT_EQ(standby.answer.status, 503);
}

TEST(route, an_outcome_takes_post_and_a_well_formed_query) {
  auto post = get("/outcome", "shard=4&result=closed&code=4004");
  post.method = "POST";
  auto a = route(post, active());
  ASSERT_TRUE(std::holds_alternative<outcome_request>(a));
  EXPECT_EQ(std::get<outcome_request>(a).query.shard, 4u);
  EXPECT_EQ(std::get<outcome_request>(a).query.code, 4004u);
  const auto not_post = answered(route(get("/outcome", "shard=4&result=ready"), active()));
  EXPECT_EQ(not_post.answer.status, 405);
  EXPECT_EQ(header(not_post.answer, "Allow"), "POST");
  post.query = "shard=4&result=maybe";
  EXPECT_EQ(answered(route(post, active())).answer.status, 400);
  post.query = "shard=4&result=ready";
  EXPECT_EQ(answered(route(post, view(no_token, false, false, false))).answer.status, 503);
}

}  // namespace
}  // namespace gq::http
