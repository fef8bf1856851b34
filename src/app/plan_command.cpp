#include "src/app/plan_command.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "src/app/discord_client.hpp"
#include "src/pacing/daily_budget.hpp"

namespace gq {

namespace {

unix_ms now_unix() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "1.800 s", "4 min 10.0 s", "2 h 5 min 0.4 s"
std::string span(unix_ms ms) {
  char buf[64];
  if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(ms) / 1000);
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%lld min %.1f s", static_cast<long long>(ms / 60'000),
                  static_cast<double>(ms % 60'000) / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%lld h %lld min %.1f s", static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms % 3'600'000 / 60'000),
                  static_cast<double>(ms % 60'000) / 1000);
  }
  return buf;
}

nlohmann::json offset_or_null(const eta_estimate& e, unix_ms start) {
  return e.at ? nlohmann::json(*e.at - start) : nlohmann::json(nullptr);
}

std::uint32_t less_reserve(std::uint32_t n, std::uint32_t reserve) {
  return n > reserve ? n - reserve : 0;
}

int exit_code(const boot_plan& plan) {
  return plan.waits_for_reset || plan.refused ? k_plan_exceeds_budget : 0;
}

}  // namespace

eta_budget boot_budget(const plan_inputs& in) {
  auto budget = in.budget;
  budget.remaining = less_reserve(budget.remaining, in.reserve);
  budget.total = less_reserve(budget.total, in.reserve);
  return budget;
}

int print_plan(const plan_inputs& in, const boot_plan& plan, bool json, std::ostream& out) {
  const auto duration = offset_or_null(plan.last_grant, plan.start);
  if (json) {
    nlohmann::json buckets = nlohmann::json::array();
    for (const auto& b : plan.buckets)
      buckets.push_back({{"bucket", b.bucket},
                         {"shards", b.shards},
                         {"last_grant_ms", offset_or_null(b.last_grant, plan.start)}});
    nlohmann::json body{{"shards", in.shards},
                        {"max_concurrency", in.max_concurrency},
                        {"interval_ms", in.interval_ms},
                        {"remaining", in.budget.remaining},
                        {"total", in.budget.total},
                        {"reset_after_ms", in.budget.reset_at - in.now},
                        {"limits_source", in.source},
                        {"duration_ms", duration},
                        {"waits_for_reset", plan.waits_for_reset},
                        {"refused", plan.refused},
                        {"after_reset", plan.after_reset},
                        {"remaining_after", plan.remaining_after + in.reserve},
                        {"remaining_after_resets_in_ms", plan.reset_at - in.now},
                        {"reserve", in.reserve},
                        {"boot_budget", boot_budget(in).remaining},
                        {"buckets", std::move(buckets)}};
    if (!plan.last_grant.at) body["duration_unknown"] = plan.last_grant.reason;
    if (!in.bot.empty()) body["bot"] = in.bot;
    out << body.dump(2) << '\n';
    return exit_code(plan);
  }

  out << "Boot of " << in.shards << " shards"
      << (in.bot.empty() ? std::string() : " of bot " + in.bot) << ", max_concurrency "
      << in.max_concurrency << ", identify interval " << in.interval_ms << " ms\n"
      << "Daily budget: " << in.budget.remaining << " of " << in.budget.total << " left, resets in "
      << span(in.budget.reset_at - in.now) << " (limits: " << in.source << ")\n"
      << "Reserve: " << in.reserve
      << " session starts kept for reconnects (QUEUE_RESERVE): a boot (initial=true) may use "
      << boot_budget(in).remaining << " of the " << in.budget.remaining << " left\n";
  if (plan.last_grant.at) {
    out << "Takes " << span(*plan.last_grant.at - plan.start)
        << " from the first request to the last grant (an idle bucket grants at once)\n";
  } else {
    out << "Does not finish: " << plan.last_grant.reason << '\n';
  }
  // Buckets with the same load and end share a line: 4096 buckets should not print 4096 lines.
  out << "Per bucket:\n";
  for (std::size_t i = 0; i < plan.buckets.size();) {
    std::size_t j = i;
    while (j + 1 < plan.buckets.size() && plan.buckets[j + 1].shards == plan.buckets[i].shards &&
           plan.buckets[j + 1].last_grant.at == plan.buckets[i].last_grant.at)
      ++j;
    const auto& b = plan.buckets[i];
    out << "  bucket"
        << (i == j ? " " + std::to_string(i) : "s " + std::to_string(i) + "-" + std::to_string(j))
        << ": " << b.shards << " shards, ";
    if (b.shards == 0)
      out << "idle\n";
    else if (b.last_grant.at)
      out << "last grant at +" << span(*b.last_grant.at - plan.start) << '\n';
    else
      out << b.last_grant.reason << '\n';
    i = j + 1;
  }
  const bool same_window = plan.reset_at == in.budget.reset_at;
  out << "Leaves " << plan.remaining_after + in.reserve << " session starts "
      << (same_window ? "until the reset" : "in the window after the reset") << " in "
      << span(plan.reset_at - in.now) << '\n';
  const auto usable = boot_budget(in).remaining;
  if (plan.refused) {
    out << "WARNING: " << in.shards << " shards exceed the " << usable
        << " a boot may use; under QUEUE_ON_EXHAUSTED=reject the rest are refused with 429\n";
  } else if (plan.waits_for_reset) {
    out << "WARNING: " << in.shards << " shards exceed the " << usable
        << " a boot may use: " << plan.after_reset << " wait for the daily reset in "
        << span(in.budget.reset_at - in.now) << " (included above)\n";
  }
  return exit_code(plan);
}

int run_plan_command(const plan_command& request) {
  plan_inputs in;
  in.shards = request.shards;
  in.interval_ms = request.interval.count();
  in.now = now_unix();
  in.source = "config";
  in.bot = request.bot.value_or("");
  std::uint32_t max_concurrency = request.max_concurrency_config;
  std::uint32_t total = request.total_config;
  std::uint32_t remaining = total;
  unix_ms reset_at = in.now + daily_budget::k_day_ms;
  if (request.discord_token) {
    discord_client client{request.discord_api_url, *request.discord_token};
    const auto fetched = client.fetch();
    if (fetched.result != limits_fetch::outcome::ok) {
      std::cerr << "gateway-queue plan: could not read the limits from Discord: "
                << (fetched.result == limits_fetch::outcome::unauthorized
                        ? std::string{"the token was rejected (401)"}
                        : fetched.detail)
                << '\n';
      return 1;
    }
    in.source = "discord";
    max_concurrency = fetched.limits.max_concurrency;
    total = fetched.limits.total;
    remaining = fetched.limits.remaining;
    reset_at = fetched.limits.reset_at;
  }
  if (request.max_concurrency_flag) max_concurrency = *request.max_concurrency_flag;
  if (request.total_flag) {
    total = *request.total_flag;
    if (!request.discord_token) remaining = total;
  }
  if (request.remaining_flag) remaining = *request.remaining_flag;
  if (request.reset_after_ms_flag) reset_at = in.now + *request.reset_after_ms_flag;
  if (remaining > total) {
    std::cerr << "gateway-queue plan: remaining (" << remaining << ") exceeds the daily limit ("
              << total << "); give --daily-limit\n";
    return 2;
  }
  in.max_concurrency = max_concurrency;
  in.budget = {true, remaining, total, reset_at, request.on_exhausted == exhausted_policy::reject};
  in.reserve = reserve_for(request.reserve, total);
  const auto plan =
      plan_boot(in.shards, in.max_concurrency, in.interval_ms, boot_budget(in), in.now);
  return print_plan(in, plan, request.json, std::cout);
}

}  // namespace gq
