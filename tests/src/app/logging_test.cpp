#include "src/app/logging.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "src/app/logging_detail.hpp"

namespace gq {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Captures what the process logger writes; restores a plain default logger afterwards so that
// no later test writes into a dead stream.
class logging_test : public ::testing::Test {
 protected:
  void init(log_format format, log_level level = log_level::debug) {
    out_.str("");
    detail::init_logging_to(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_), format, level);
  }
  void TearDown() override { init_logging(log_format::text, log_level::info); }

  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream in{out_.str()};
    for (std::string line; std::getline(in, line);) result.push_back(line);
    return result;
  }

  // 2026-11-23T12:00:00.123Z, logged at a fixed instant.
  static spdlog::log_clock::time_point fixed_time() {
    using namespace std::chrono;
    return spdlog::log_clock::time_point{milliseconds{1795435200123}};
  }

  std::ostringstream out_;
};

TEST_F(logging_test, text_line_is_utc_iso8601_with_milliseconds_level_and_message) {
  init(log_format::text);
  spdlog::default_logger()->log(fixed_time(), {}, spdlog::level::info, "queue started");
  EXPECT_EQ(out_.str(), "2026-11-23T12:00:00.123Z info queue started\n");
}

TEST_F(logging_test, text_line_of_the_current_time_has_the_same_shape) {
  init(log_format::text);
  spdlog::warn("port {} in use", 5000);
  const std::regex shape{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warn port 5000 in use\n)"};
  EXPECT_TRUE(std::regex_match(out_.str(), shape)) << out_.str();
}

TEST_F(logging_test, text_escapes_control_characters_so_one_event_is_one_line) {
  init(log_format::text);
  spdlog::info("a\nb\r\tc\x01");
  ASSERT_EQ(lines().size(), 1u);
  EXPECT_THAT(lines()[0], HasSubstr(R"(a\nb\r\tc\x01)"));
}

TEST_F(logging_test, json_line_is_one_object_with_ts_level_msg_in_that_order) {
  init(log_format::json);
  spdlog::default_logger()->log(fixed_time(), {}, spdlog::level::err, "journal failed");
  EXPECT_EQ(out_.str(),
            R"({"ts":"2026-11-23T12:00:00.123Z","level":"error","msg":"journal failed"})"
            "\n");
}

TEST_F(logging_test, json_escapes_quotes_backslashes_controls_and_keeps_unicode) {
  init(log_format::json);
  const std::string message = "say \"hi\" \\ path\nnext\ttab\x01 caf\xc3\xa9 \xe2\x9c\x93";
  spdlog::info(message);
  ASSERT_EQ(lines().size(), 1u);
  const auto parsed = nlohmann::json::parse(lines()[0]);
  EXPECT_EQ(parsed.at("msg"), message);
  EXPECT_EQ(parsed.at("level"), "info");
  EXPECT_EQ(parsed.size(), 3u);
}

TEST_F(logging_test, json_survives_invalid_utf8) {
  init(log_format::json);
  spdlog::info("bad \xff\xfe bytes");
  ASSERT_EQ(lines().size(), 1u);
  const auto parsed = nlohmann::json::parse(lines()[0]);
  EXPECT_THAT(parsed.at("msg").get<std::string>(), HasSubstr("bytes"));
}

TEST_F(logging_test, level_filter_drops_lower_levels) {
  init(log_format::text, log_level::warn);
  spdlog::debug("d");
  spdlog::info("i");
  spdlog::warn("w");
  spdlog::error("e");
  const auto got = lines();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_THAT(got[0], HasSubstr(" warn w"));
  EXPECT_THAT(got[1], HasSubstr(" error e"));
}

TEST_F(logging_test, every_level_is_named_as_configured) {
  const std::pair<log_level, const char*> levels[] = {{log_level::debug, "debug"},
                                                      {log_level::info, "info"},
                                                      {log_level::warn, "warn"},
                                                      {log_level::error, "error"}};
  for (const auto& [level, name] : levels) {
    init(log_format::json, level);
    spdlog::debug("x");
    spdlog::info("x");
    spdlog::warn("x");
    spdlog::error("x");
    const auto got = lines();
    ASSERT_FALSE(got.empty()) << name;
    EXPECT_EQ(nlohmann::json::parse(got.front()).at("level"), name);
  }
}

TEST_F(logging_test, registered_secrets_are_redacted_in_text_and_json) {
  add_log_redaction("tok-redact-1");
  for (auto format : {log_format::text, log_format::json}) {
    init(format);
    spdlog::info("Authorization: Bot tok-redact-1 and again tok-redact-1!");
    EXPECT_THAT(out_.str(), Not(HasSubstr("tok-redact-1")));
    EXPECT_THAT(out_.str(), HasSubstr("Bot [redacted] and again [redacted]!"));
  }
}

TEST_F(logging_test, a_secret_registered_after_init_applies_to_later_lines) {
  // Redactions are process-wide and permanent: a fresh secret per run (--gtest_repeat).
  static int run = 0;
  const std::string secret = "tok-redact-2-" + std::to_string(++run) + "-end";
  init(log_format::text);
  spdlog::info("before {}", secret);
  add_log_redaction(secret);
  spdlog::info("after {}", secret);
  const auto got = lines();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_THAT(got[0], HasSubstr("before " + secret));
  EXPECT_THAT(got[1], HasSubstr("after [redacted]"));
}

TEST_F(logging_test, a_secret_containing_another_is_redacted_whole) {
  add_log_redaction("abc-redact-3");
  add_log_redaction("xx-abc-redact-3-yy");
  init(log_format::text);
  spdlog::info("v=xx-abc-redact-3-yy");
  EXPECT_THAT(out_.str(), HasSubstr("v=[redacted]\n"));
}

TEST_F(logging_test, a_secret_with_json_special_characters_is_redacted_before_escaping) {
  add_log_redaction("q\"uote\\redact-4");
  init(log_format::json);
  spdlog::info("s=q\"uote\\redact-4");
  EXPECT_EQ(nlohmann::json::parse(lines().at(0)).at("msg"), "s=[redacted]");
}

TEST_F(logging_test, an_empty_secret_changes_nothing) {
  add_log_redaction("");
  init(log_format::text);
  spdlog::info("plain");
  EXPECT_THAT(out_.str(), HasSubstr(" info plain\n"));
}

TEST_F(logging_test, redaction_is_safe_while_other_threads_log) {
  init(log_format::json);
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      while (!stop) spdlog::info("tok-redact-5 tok-redact-6");
    });
  }
  add_log_redaction("tok-redact-5");
  add_log_redaction("tok-redact-6");
  stop = true;
  for (auto& writer : writers) writer.join();
  spdlog::info("tok-redact-5 tok-redact-6");
  const auto got = lines();
  ASSERT_FALSE(got.empty());
  for (const auto& line : got) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  }
  EXPECT_THAT(got.back(), HasSubstr("[redacted] [redacted]"));
}

TEST_F(logging_test, c1_and_bidi_controls_are_escaped_in_both_formats) {
  // NEL, CSI and RIGHT-TO-LEFT OVERRIDE, as a Discord error body could carry them.
  const std::string message = "a\xc2\x85" "forged \xc2\x9b" "31m \xe2\x80\xae" "txt";
  init(log_format::text);
  spdlog::warn(message);
  EXPECT_THAT(out_.str(), HasSubstr(R"(a\u0085forged \u009b31m \u202etxt)"));
  init(log_format::json);
  spdlog::warn(message);
  EXPECT_THAT(out_.str(), HasSubstr(R"("msg":"a\u0085forged \u009b31m \u202etxt")"));
  EXPECT_EQ(nlohmann::json::parse(lines()[0]).at("msg"), message);
}

}  // namespace
}  // namespace gq
