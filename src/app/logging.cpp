#include "src/app/logging.hpp"

#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "src/app/log_escape.hpp"
#include "src/app/logging_detail.hpp"

namespace gq {
namespace {

// The registered secrets, longest first so that a secret containing another is hidden whole.
// Copy-on-write: a line takes a snapshot under the lock and redacts without holding it.
class redaction_list {
 public:
  void add(const std::string& secret) {
    std::lock_guard lock{mutex_};
    if (secret.empty() ||
        std::find(secrets_->begin(), secrets_->end(), secret) != secrets_->end()) {
      return;
    }
    auto next = std::make_shared<std::vector<std::string>>(*secrets_);
    next->push_back(secret);
    std::stable_sort(next->begin(), next->end(),
                     [](const auto& a, const auto& b) { return a.size() > b.size(); });
    secrets_ = std::move(next);
  }

  std::shared_ptr<const std::vector<std::string>> snapshot() const {
    std::lock_guard lock{mutex_};
    return secrets_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<std::string>> secrets_ =
      std::make_shared<std::vector<std::string>>();
};

redaction_list& redactions() {
  static redaction_list list;
  return list;
}

std::string redact(std::string text) {
  constexpr std::string_view k_redacted = "[redacted]";
  const auto secrets = redactions().snapshot();  // held: the loop must not outlive the list
  for (const auto& secret : *secrets) {
    for (auto at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + k_redacted.size())) {
      text.replace(at, secret.size(), k_redacted);
    }
  }
  return text;
}

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// 2026-11-23T12:00:00.123Z
std::string utc_timestamp(spdlog::log_clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms.count() % 1000));
  return buf;
}

class line_formatter final : public spdlog::formatter {
 public:
  explicit line_formatter(log_format format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string text = redact(std::string(msg.payload.data(), msg.payload.size()));
    std::string line;
    if (format_ == log_format::json) {
      // Built by hand to keep the keys in reading order; the message is escaped by nlohmann,
      // with invalid UTF-8 replaced rather than thrown on, then its hazards by us.
      line = R"({"ts":")" + utc_timestamp(msg.time) + R"(","level":")" +
             std::string(level_name(msg.level)) + R"(","msg":)" +
             escape_json_hazards(nlohmann::json(text).dump(
                 -1, ' ', false, nlohmann::json::error_handler_t::replace)) +
             "}\n";
    } else {
      line = utc_timestamp(msg.time) + " " + std::string(level_name(msg.level)) + " " +
             escape_log_text(text) + "\n";
    }
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<line_formatter>(format_);
  }

 private:
  log_format format_;
};

spdlog::level::level_enum to_spdlog(log_level level) {
  switch (level) {
    case log_level::debug:
      return spdlog::level::debug;
    case log_level::info:
      return spdlog::level::info;
    case log_level::warn:
      return spdlog::level::warn;
    case log_level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

namespace detail {

void init_logging_to(spdlog::sink_ptr sink, log_format format, log_level level) {
  sink->set_formatter(std::make_unique<line_formatter>(format));
  auto logger = std::make_shared<spdlog::logger>("gateway-queue", std::move(sink));
  logger->set_level(to_spdlog(level));
  // Every line is flushed: stdout is a pipe under Docker and systemd, and a line stuck in a
  // buffer when the process dies is the line that explained why.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace detail

void init_logging(log_format format, log_level level) {
  detail::init_logging_to(std::make_shared<spdlog::sinks::stdout_sink_mt>(), format, level);
}

void add_log_redaction(const std::string& secret) { redactions().add(secret); }

}  // namespace gq
