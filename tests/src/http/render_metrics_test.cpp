// GET /metrics as text: exact samples, every family declared once, every label value present
// from the start. (promtool's own check of a live server: tests/tools/promtool_metrics_test.py.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "src/core/version.hpp"
#include "src/http/render.hpp"

namespace gq {
namespace {

constexpr unix_ms k_now = 1'795'843'600'000;

queue_status sample_status() {
  queue_status status;
  status.max_concurrency = 2;
  status.identify_interval_ms = 5250;
  status.buckets.resize(2);
  status.buckets[0].bucket = 0;
  status.buckets[0].waiting = 3;
  status.buckets[0].next_grant_at = k_now + 5000;
  status.buckets[1].bucket = 1;
  status.buckets[1].waiting = 1;
  status.buckets[1].next_grant_at = k_now;
  auto& ledger = status.ledger;
  ledger.limits_known = true;
  ledger.limits = {1000, 998, 1'795'930'000'123, 2, limits_source::discord, k_now};
  ledger.grants_total = 2;
  ledger.last_grant_at = 1'795'843'599'001;
  ledger.wait_counts.assign(wait_histogram_bounds().size(), 0);
  ledger.wait_counts[0] = 1;
  ledger.wait_count_inf = 1;
  ledger.wait_sum_seconds = 4000.25;
  ledger.commit_seconds.observe(0.0002, commit_histogram_bounds());
  ledger.commit_seconds.observe(3.5, commit_histogram_bounds());
  ledger.refreshes.ok = 4;
  ledger.refreshes.rate_limited = 1;
  ledger.discord_up = true;
  return status;
}

// The sample lines of a text exposition, keyed by series (name plus labels).
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> result;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    result[line.substr(0, space)] = line.substr(space + 1);
  }
  return result;
}

TEST(format_sample, integers_are_exact) {
  EXPECT_EQ(format_sample(0), "0");
  EXPECT_EQ(format_sample(1795930000), "1795930000");
  EXPECT_EQ(format_sample(-42), "-42");
  EXPECT_EQ(format_sample(9007199254740991.0), "9007199254740991");
}

TEST(format_sample, fractions_use_the_shortest_form_that_reads_back_the_same) {
  EXPECT_EQ(format_sample(1795930000.123), "1795930000.123");
  EXPECT_EQ(format_sample(0.005), "0.005");
  EXPECT_EQ(format_sample(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_sample(0.0001), "0.0001") << "no exponent in the range metrics live in";
  EXPECT_EQ(format_sample(1e-9), "1e-09");
  for (double value : {1795930000.123, 1e-9, 123456.789012345, 1.0 / 3.0, 6.02214076e23,
                       std::numeric_limits<double>::min(), std::numeric_limits<double>::max()})
    EXPECT_EQ(std::strtod(format_sample(value).c_str(), nullptr), value) << format_sample(value);
}

TEST(format_sample, special_values_are_spelled_as_prometheus_reads_them) {
  EXPECT_EQ(format_sample(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_sample(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_sample(std::nan("")), "NaN");
}

TEST(render_metrics, reset_time_is_exact_to_the_millisecond) {
  const auto text = render_metrics(sample_status(), {}, k_now);
  EXPECT_NE(text.find("\ngateway_queue_reset_timestamp_seconds 1795930000.123\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(samples(text).at("gateway_queue_reset_seconds"), "86400.123");
}

TEST(render_metrics, reset_seconds_never_goes_negative_and_is_zero_while_limits_are_unknown) {
  auto status = sample_status();
  EXPECT_EQ(samples(render_metrics(status, {}, status.ledger.limits.reset_at + 5))
                .at("gateway_queue_reset_seconds"),
            "0");
  status.ledger.limits_known = false;
  const auto text = samples(render_metrics(status, {}, k_now));
  EXPECT_EQ(text.at("gateway_queue_reset_seconds"), "0");
  EXPECT_EQ(text.at("gateway_queue_reset_timestamp_seconds"), "0");
  EXPECT_EQ(text.at("gateway_queue_limits_known"), "0");
}

TEST(render_metrics, every_rejection_reason_and_refresh_result_is_present_from_the_start) {
  const auto text = samples(render_metrics(queue_status{}, {}, k_now));
  for (const char* reason :
       {"full", "exhausted", "auth", "bad_request", "journal", "shutdown", "standby", "late"})
    EXPECT_EQ(text.at(std::string("gateway_queue_rejections_total{reason=\"") + reason + "\"}"),
              "0")
        << reason;
  for (const char* result : {"ok", "error", "rate_limited", "unauthorized"})
    EXPECT_EQ(
        text.at(std::string("gateway_queue_discord_refreshes_total{result=\"") + result + "\"}"),
        "0")
        << result;
  EXPECT_EQ(text.at("gateway_queue_last_grant_timestamp_seconds"), "0");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_count"), "0");
}

TEST(render_metrics, shows_every_counter_and_gauge_with_its_value) {
  edge_counters edge;
  edge.connections = 7;
  edge.hangups_total = 3;
  edge.auth_required = true;
  edge.count(rejection::full);
  edge.count(rejection::full);
  edge.count(rejection::auth);
  edge.count(rejection::journal);
  const auto text = samples(render_metrics(sample_status(), edge, k_now));
  const std::map<std::string, std::string> expected{
      {"gateway_queue_waiting", "4"},
      {"gateway_queue_bucket_waiting{bucket=\"0\"}", "3"},
      {"gateway_queue_bucket_waiting{bucket=\"1\"}", "1"},
      {"gateway_queue_grants_total", "2"},
      {"gateway_queue_hangups_total", "3"},
      {"gateway_queue_connections", "7"},
      {"gateway_queue_rejections_total{reason=\"full\"}", "2"},
      {"gateway_queue_rejections_total{reason=\"auth\"}", "1"},
      {"gateway_queue_rejections_total{reason=\"journal\"}", "1"},
      {"gateway_queue_rejections_total{reason=\"exhausted\"}", "0"},
      {"gateway_queue_rejected_full_total", "2"},
      {"gateway_queue_discord_refreshes_total{result=\"ok\"}", "4"},
      {"gateway_queue_discord_refreshes_total{result=\"rate_limited\"}", "1"},
      {"gateway_queue_discord_up", "1"},
      {"gateway_queue_remaining_sessions", "998"},
      {"gateway_queue_total_sessions", "1000"},
      {"gateway_queue_max_concurrency", "2"},
      {"gateway_queue_limits_known", "1"},
      {"gateway_queue_identify_interval_seconds", "5.25"},
      {"gateway_queue_last_grant_timestamp_seconds", "1795843599.001"},
      {"gateway_queue_journal_failures_total", "0"},
      {"gateway_queue_build_info{version=\"" + std::string(build_version()) + "\",commit=\"" +
           std::string(build_commit()) + "\"}",
       "1"},
      {"gateway_queue_auth_required", "1"},
  };
  for (const auto& [series, value] : expected) {
    ASSERT_TRUE(text.count(series)) << series;
    EXPECT_EQ(text.at(series), value) << series;
  }
}

TEST(render_metrics, discord_is_down_once_the_token_was_rejected) {
  auto status = sample_status();
  status.ledger.discord_stopped = true;
  EXPECT_EQ(samples(render_metrics(status, {}, k_now)).at("gateway_queue_discord_up"), "0");
}

TEST(render_metrics, histograms_are_cumulative_and_end_with_inf_sum_and_count) {
  const auto text = samples(render_metrics(sample_status(), {}, k_now));
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_bucket{le=\"0.005\"}"), "1");
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_bucket{le=\"3600\"}"), "1");
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_bucket{le=\"+Inf\"}"), "2");
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_sum"), "4000.25");
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_count"), "2");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_bucket{le=\"0.0001\"}"), "0");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_bucket{le=\"0.00025\"}"), "1");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_bucket{le=\"1\"}"), "1");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_bucket{le=\"+Inf\"}"), "2");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_sum"), "3.5002");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_count"), "2");
}

TEST(render_metrics, every_sample_belongs_to_one_family_declared_once_before_it) {
  const auto text = render_metrics(sample_status(), {}, k_now);
  std::istringstream lines(text);
  std::string line;
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> helped;
  std::string current;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string first, name, type;
    words >> first;
    if (first == "#") {
      std::string keyword;
      words >> keyword >> name;
      if (keyword == "HELP") {
        EXPECT_TRUE(helped.insert(name).second) << "HELP twice: " << name;
      }
      if (keyword == "TYPE") {
        words >> type;
        EXPECT_TRUE(types.emplace(name, type).second) << "TYPE twice: " << name;
        current = name;
      }
      continue;
    }
    std::string series = first.substr(0, first.find('{'));
    const auto& type_of = types[current];
    if (type_of == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (series == current + suffix) series = current;
    }
    EXPECT_EQ(series, current) << "sample outside its family: " << line;
  }
  EXPECT_EQ(helped.size(), types.size());
  EXPECT_EQ(types["gateway_queue_journal_commit_seconds"], "histogram");
  EXPECT_EQ(types["gateway_queue_rejections_total"], "counter");
  EXPECT_EQ(types["gateway_queue_build_info"], "gauge");
}

}  // namespace
}  // namespace gq
