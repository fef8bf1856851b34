// GET /metrics as text: exact samples, every family declared once, every label value present
// from the start, each bot's series labelled with its bot and the queue-wide ones shown to the
// operator only. (promtool's check of a live server: tests/tools/promtool_metrics_test.py; of
// two bots' output: below.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

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

// A second bot, unlike the first in every value it has.
queue_status other_status() {
  queue_status status;
  status.max_concurrency = 3;
  status.identify_interval_ms = 5000;
  status.buckets.resize(3);
  for (std::uint32_t i = 0; i < 3; ++i) {
    status.buckets[i].bucket = i;
    status.buckets[i].waiting = 10 + i;
    status.buckets[i].interval_ms = i == 2 ? 7000 : 5000;
  }
  auto& ledger = status.ledger;
  ledger.limits_known = true;
  ledger.limits = {2000, 40, k_now + 1000, 3, limits_source::discord, k_now};
  ledger.grants_total = 7;
  ledger.last_grant_at = 1'795'843'500'500;
  ledger.wait_counts.assign(wait_histogram_bounds().size(), 0);
  ledger.wait_counts[4] = 5;
  ledger.wait_sum_seconds = 12.5;
  ledger.refreshes.error = 9;
  ledger.looping = {{17, k_now + 60'000}};
  ledger.reserve = 11;
  return status;
}

// The families that belong to no bot: shown to the operator (queue_wide non-null) only.
const std::set<std::string> k_queue_wide{
    "gateway_queue_active",
    "gateway_queue_hangups_total",
    "gateway_queue_rejections_total",
    "gateway_queue_rejected_full_total",
    "gateway_queue_connections",
    "gateway_queue_outcomes_total",
    "gateway_queue_journal_commit_seconds",
    "gateway_queue_journal_failures_total",
    "gateway_queue_build_info",
    "gateway_queue_auth_required",
};

// One bot named `default` with `status`, and the queue-wide series of `edge`.
std::string render_one(const queue_status& status, const edge_counters& edge, unix_ms now,
                       std::uint64_t waiting = 0) {
  const bot_metrics bot{"default", &status, waiting};
  return render_metrics({&bot, 1}, &edge, now);
}

// Bots `alpha` (sample_status) and `beta` (other_status), and the queue-wide series if `edge`.
std::string render_two(const edge_counters* edge) {
  static const queue_status alpha = sample_status();
  static const queue_status beta = other_status();
  // beta: 33 in its buckets, one more whose grant is on its way to the edge.
  const bot_metrics bots[] = {{"alpha", &alpha, 4}, {"beta", &beta, 34}};
  return render_metrics(bots, edge, k_now);
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

// The value of the `bot` label of a series (name plus labels) when it is its first label.
std::optional<std::string> bot_of(const std::string& series) {
  const std::string prefix = "{bot=\"";
  const auto at = series.find(prefix);
  if (at == std::string::npos || at != series.find('{')) return std::nullopt;
  const auto start = at + prefix.size();
  return series.substr(start, series.find('"', start) - start);
}

// A family's name as its samples' series start: histograms' _bucket, _sum and _count folded.
struct family_sample {
  std::string family;
  std::string series;  // name plus labels
};

// Checks that every sample follows the HELP and TYPE of its own family, each declared once (so
// a family's samples are contiguous), and returns the samples in order.
std::vector<family_sample> samples_in_families(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> helped;
  std::string current;
  std::vector<family_sample> result;
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
    if (types[current] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (series == current + suffix) series = current;
    }
    EXPECT_EQ(series, current) << "sample outside its family: " << line;
    result.push_back({current, first});
  }
  EXPECT_EQ(helped, [&] {
    std::set<std::string> declared;
    for (const auto& [name, type] : types) declared.insert(name);
    return declared;
  }()) << "a family with TYPE and no HELP, or the reverse";
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
  const auto text = render_one(sample_status(), {}, k_now);
  EXPECT_NE(text.find("\ngateway_queue_reset_timestamp_seconds{bot=\"default\"} 1795930000.123\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(samples(text).at("gateway_queue_reset_seconds{bot=\"default\"}"), "86400.123");
}

TEST(render_metrics, reset_seconds_never_goes_negative_and_is_zero_while_limits_are_unknown) {
  auto status = sample_status();
  EXPECT_EQ(samples(render_one(status, {}, status.ledger.limits.reset_at + 5))
                .at("gateway_queue_reset_seconds{bot=\"default\"}"),
            "0");
  status.ledger.limits_known = false;
  const auto text = samples(render_one(status, {}, k_now));
  EXPECT_EQ(text.at("gateway_queue_reset_seconds{bot=\"default\"}"), "0");
  EXPECT_EQ(text.at("gateway_queue_reset_timestamp_seconds{bot=\"default\"}"), "0");
  EXPECT_EQ(text.at("gateway_queue_limits_known{bot=\"default\"}"), "0");
}

TEST(render_metrics, every_rejection_reason_and_refresh_result_is_present_from_the_start) {
  const auto text = samples(render_one(queue_status{}, {}, k_now));
  for (const char* reason : {"full", "exhausted", "auth", "bad_request", "journal", "shutdown",
                             "standby", "late", "looping", "reserve"})
    EXPECT_EQ(text.at(std::string("gateway_queue_rejections_total{reason=\"") + reason + "\"}"),
              "0")
        << reason;
  for (const char* result : {"ok", "error", "rate_limited", "unauthorized"})
    EXPECT_EQ(
        text.at(std::string("gateway_queue_discord_refreshes_total{bot=\"default\",result=\"") +
                result + "\"}"),
        "0")
        << result;
  EXPECT_EQ(text.at("gateway_queue_last_grant_timestamp_seconds{bot=\"default\"}"), "0");
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
  const auto text = samples(render_one(sample_status(), edge, k_now, 4));
  const std::map<std::string, std::string> expected{
      {"gateway_queue_waiting{bot=\"default\"}", "4"},
      {"gateway_queue_bucket_waiting{bot=\"default\",bucket=\"0\"}", "3"},
      {"gateway_queue_bucket_waiting{bot=\"default\",bucket=\"1\"}", "1"},
      {"gateway_queue_grants_total{bot=\"default\"}", "2"},
      {"gateway_queue_hangups_total", "3"},
      {"gateway_queue_connections", "7"},
      {"gateway_queue_rejections_total{reason=\"full\"}", "2"},
      {"gateway_queue_rejections_total{reason=\"auth\"}", "1"},
      {"gateway_queue_rejections_total{reason=\"journal\"}", "1"},
      {"gateway_queue_rejections_total{reason=\"exhausted\"}", "0"},
      {"gateway_queue_rejected_full_total", "2"},
      {"gateway_queue_discord_refreshes_total{bot=\"default\",result=\"ok\"}", "4"},
      {"gateway_queue_discord_refreshes_total{bot=\"default\",result=\"rate_limited\"}", "1"},
      {"gateway_queue_discord_up{bot=\"default\"}", "1"},
      {"gateway_queue_remaining_sessions{bot=\"default\"}", "998"},
      {"gateway_queue_total_sessions{bot=\"default\"}", "1000"},
      {"gateway_queue_max_concurrency{bot=\"default\"}", "2"},
      {"gateway_queue_limits_known{bot=\"default\"}", "1"},
      {"gateway_queue_identify_interval_seconds{bot=\"default\"}", "5.25"},
      {"gateway_queue_last_grant_timestamp_seconds{bot=\"default\"}", "1795843599.001"},
      {"gateway_queue_journal_failures_total", "0"},
      {"gateway_queue_active", "1"},
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
  EXPECT_EQ(samples(render_one(status, {}, k_now)).at("gateway_queue_discord_up{bot=\"default\"}"),
            "0");
}

TEST(render_metrics, histograms_are_cumulative_and_end_with_inf_sum_and_count) {
  const auto text = samples(render_one(sample_status(), {}, k_now));
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_bucket{bot=\"default\",le=\"0.005\"}"), "1");
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_bucket{bot=\"default\",le=\"3600\"}"), "1");
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_bucket{bot=\"default\",le=\"+Inf\"}"), "2");
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_sum{bot=\"default\"}"), "4000.25");
  EXPECT_EQ(text.at("gateway_queue_wait_seconds_count{bot=\"default\"}"), "2");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_bucket{le=\"0.0001\"}"), "0");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_bucket{le=\"0.00025\"}"), "1");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_bucket{le=\"1\"}"), "1");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_bucket{le=\"+Inf\"}"), "2");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_sum"), "3.5002");
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_count"), "2");
}

TEST(render_metrics, every_sample_belongs_to_one_family_declared_once_before_it) {
  edge_counters edge;
  const auto found = samples_in_families(render_two(&edge));
  std::map<std::string, std::size_t> per_family;
  for (const auto& sample : found) ++per_family[sample.family];
  EXPECT_EQ(per_family.size(), 28U) << "every family has samples";
  EXPECT_EQ(per_family["gateway_queue_bucket_waiting"], 5U) << "2 buckets of alpha, 3 of beta";
  const auto text = render_two(&edge);
  EXPECT_NE(text.find("# TYPE gateway_queue_journal_commit_seconds histogram\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE gateway_queue_wait_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE gateway_queue_rejections_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE gateway_queue_build_info gauge\n"), std::string::npos);
}

TEST(render_metrics, each_bot_has_every_series_of_its_queue_labelled_bot_first) {
  edge_counters edge;
  const auto found = samples_in_families(render_two(&edge));
  std::map<std::string, std::vector<std::string>> bots_of;  // family -> its samples' bots
  for (const auto& [family, series] : found) {
    const auto bot = bot_of(series);
    if (k_queue_wide.count(family)) {
      EXPECT_FALSE(bot) << "a queue-wide series names a bot: " << series;
      continue;
    }
    ASSERT_TRUE(bot) << "a series of a bot's queue without its bot label first: " << series;
    bots_of[family].push_back(*bot);
  }
  EXPECT_EQ(bots_of.size(), 18U) << "families of a bot's queue";
  for (const auto& [family, bots] : bots_of) {
    // Each bot's samples together, alpha's then beta's, both present.
    std::vector<std::string> runs;
    for (const auto& bot : bots)
      if (runs.empty() || runs.back() != bot) runs.push_back(bot);
    EXPECT_EQ(runs, (std::vector<std::string>{"alpha", "beta"})) << family;
  }
  const auto text = samples(render_two(&edge));
  const std::map<std::string, std::string> expected{
      {"gateway_queue_waiting{bot=\"alpha\"}", "4"},
      {"gateway_queue_waiting{bot=\"beta\"}", "34"},
      {"gateway_queue_grants_total{bot=\"alpha\"}", "2"},
      {"gateway_queue_grants_total{bot=\"beta\"}", "7"},
      {"gateway_queue_bucket_waiting{bot=\"beta\",bucket=\"2\"}", "12"},
      {"gateway_queue_bucket_interval_seconds{bot=\"beta\",bucket=\"2\"}", "7"},
      {"gateway_queue_widened_buckets{bot=\"beta\"}", "1"},
      {"gateway_queue_max_concurrency{bot=\"alpha\"}", "2"},
      {"gateway_queue_max_concurrency{bot=\"beta\"}", "3"},
      {"gateway_queue_remaining_sessions{bot=\"beta\"}", "40"},
      {"gateway_queue_reset_seconds{bot=\"beta\"}", "1"},
      {"gateway_queue_identify_interval_seconds{bot=\"beta\"}", "5"},
      {"gateway_queue_looping_shards{bot=\"alpha\"}", "0"},
      {"gateway_queue_looping_shards{bot=\"beta\"}", "1"},
      {"gateway_queue_reserve_sessions{bot=\"beta\"}", "11"},
      {"gateway_queue_wait_seconds_bucket{bot=\"beta\",le=\"5\"}", "5"},
      {"gateway_queue_wait_seconds_count{bot=\"alpha\"}", "2"},
      {"gateway_queue_wait_seconds_count{bot=\"beta\"}", "5"},
      {"gateway_queue_discord_refreshes_total{bot=\"beta\",result=\"error\"}", "9"},
      {"gateway_queue_discord_up{bot=\"alpha\"}", "1"},
      {"gateway_queue_discord_up{bot=\"beta\"}", "0"},
  };
  for (const auto& [series, value] : expected) {
    ASSERT_TRUE(text.count(series)) << series;
    EXPECT_EQ(text.at(series), value) << series;
  }
}

TEST(render_metrics, the_queue_wide_series_are_shown_only_with_the_queue_wide_counters) {
  const auto for_a_bot = render_two(nullptr);
  for (const auto& family : k_queue_wide)
    EXPECT_EQ(for_a_bot.find(family), std::string::npos) << family << " shown to a bot";
  for (const auto& [family, series] : samples_in_families(for_a_bot))
    EXPECT_TRUE(bot_of(series)) << series;

  edge_counters edge;
  std::set<std::string> shown;
  for (const auto& [family, series] : samples_in_families(render_two(&edge)))
    if (k_queue_wide.count(family)) shown.insert(family);
  EXPECT_EQ(shown, k_queue_wide);
}

TEST(render_metrics, a_bots_series_never_mention_another_bot) {
  const auto beta = other_status();
  const bot_metrics alone{"beta", &beta, 34};
  const auto text = render_metrics({&alone, 1}, nullptr, k_now);
  EXPECT_EQ(text.find("alpha"), std::string::npos) << text;
  // Beside another bot, each of beta's samples is the one it has alone.
  const auto together = samples(render_two(nullptr));
  const auto by_itself = samples(text);
  for (const auto& [series, value] : together) {
    if (bot_of(series) != "beta") continue;
    ASSERT_TRUE(by_itself.count(series)) << series;
    EXPECT_EQ(by_itself.at(series), value) << series;
  }
  std::size_t betas = 0;
  for (const auto& [series, value] : together) betas += bot_of(series) == "beta" ? 1 : 0;
  EXPECT_EQ(betas, by_itself.size());
}

TEST(render_metrics, a_standby_knowing_no_bots_shows_the_queue_wide_series_only) {
  edge_counters edge;
  edge.active = false;
  edge.count(rejection::standby);
  const auto text = render_metrics({}, &edge, k_now);
  EXPECT_EQ(text.find("bot="), std::string::npos) << text;
  EXPECT_EQ(text.find("gateway_queue_waiting"), std::string::npos) << "a family without samples";
  std::set<std::string> shown;
  for (const auto& [family, series] : samples_in_families(text)) shown.insert(family);
  EXPECT_EQ(shown, k_queue_wide) << text;
  const auto values = samples(text);
  EXPECT_EQ(values.at("gateway_queue_active"), "0");
  EXPECT_EQ(values.at("gateway_queue_rejections_total{reason=\"standby\"}"), "1");
  EXPECT_EQ(values.at("gateway_queue_journal_commit_seconds_count"), "0");
  EXPECT_TRUE(render_metrics({}, nullptr, k_now).empty());
}

TEST(render_metrics, the_journal_series_come_from_the_first_bot) {
  const auto first = sample_status();  // 2 commits
  const auto second = other_status();  // none
  const bot_metrics bots[] = {{"alpha", &first, 0}, {"beta", &second, 0}};
  edge_counters edge;
  const auto text = samples(render_metrics(bots, &edge, k_now));
  EXPECT_EQ(text.at("gateway_queue_journal_commit_seconds_count"), "2");
}

TEST(render_metrics, label_values_are_escaped) {
  // Valid bot names need no escaping; the renderer does not rely on it.
  const auto status = sample_status();
  const bot_metrics odd{"a\"b\\c\nd", &status, 1};
  const auto text = render_metrics({&odd, 1}, nullptr, k_now);
  EXPECT_NE(text.find("gateway_queue_waiting{bot=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos)
      << text;
}

// Prometheus's own linter on two bots' output with the queue-wide series: the families,
// labels and histograms as Prometheus reads them.
TEST(render_metrics, two_bots_output_passes_promtool_check_metrics) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool is not installed (the prometheus package)";
  edge_counters edge;
  edge.count(rejection::full);
  const auto text = render_two(&edge);
  const auto path = std::filesystem::temp_directory_path() /
                    ("gq-metrics-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path) << text;
  const std::string command = "promtool check metrics < '" + path.string() + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string findings;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) findings += buffer;
  const int status = ::pclose(pipe);
  std::filesystem::remove(path);
  EXPECT_EQ(status, 0) << findings << "\n" << text;
  EXPECT_EQ(findings, "") << text;
}

}  // namespace
}  // namespace gq
