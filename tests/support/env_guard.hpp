#pragma once
// Saves and clears environment variables for one test, and restores them afterwards: CI machines
// often set HOST or PORT, and a test that leaks a variable changes every later test.
// Not thread-safe (setenv never is): use it only while no other thread reads the environment.

#include <cstdlib>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace gq::testing {

// Every variable of the configuration table (docs/CONFIGURATION.md).
inline constexpr const char* k_config_variables[] = {
    "HOST",
    "PORT",
    "DISCORD_TOKEN",
    "DISCORD_API_URL",
    "QUEUE_DB",
    "QUEUE_BOTS_FILE",
    "QUEUE_IDENTIFY_INTERVAL_MS",
    "QUEUE_MAX_CONCURRENCY",
    "QUEUE_DAILY_LIMIT",
    "QUEUE_REFRESH_INTERVAL_S",
    "QUEUE_ON_EXHAUSTED",
    "QUEUE_MAX_WAITING",
    "QUEUE_AUTH_TOKEN",
    "QUEUE_RETENTION_DAYS",
    "QUEUE_REQUEST_TIMEOUT_S",
    "QUEUE_IDLE_TIMEOUT_S",
    "QUEUE_LOG_FORMAT",
    "QUEUE_LOG_LEVEL",
    "DISCORD_TOKEN_FILE",
    "QUEUE_AUTH_TOKEN_FILE",
    "QUEUE_DB_FILE",
};

class env_guard {
 public:
  // Guards (and unsets) the configuration variables.
  env_guard() {
    for (const char* name : k_config_variables) guard(name);
  }
  explicit env_guard(std::initializer_list<const char*> names) {
    for (const char* name : names) guard(name);
  }
  ~env_guard() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

  // Only guarded variables may be set, so that none outlives the test.
  void set(const std::string& name, const std::string& value) {
    if (!saved_.count(name)) throw std::logic_error(name + " is not guarded");
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    if (!saved_.count(name)) throw std::logic_error(name + " is not guarded");
    ::unsetenv(name.c_str());
  }

 private:
  void guard(const char* name) {
    const char* value = std::getenv(name);
    saved_.emplace(name, value ? std::optional<std::string>(value) : std::nullopt);
    ::unsetenv(name);
  }

  std::map<std::string, std::optional<std::string>> saved_;
};

}  // namespace gq::testing
