#pragma once
// Shared by the discord_*_test.cpp files: the real binary against a scripted fake of
// GET /gateway/bot (tests/support/fake_discord.hpp). The contract: docs/HTTP_API.md and
// docs/DESIGN.md (pacing and the daily budget) and docs/CONFIGURATION.md ("Secrets").
//
// The fake models Discord's side of the daily budget: every client here that receives a 200
// calls fake.identify(), as a shard would, so Discord's `remaining` falls; it refills at reset.
// Timing: strict lower bounds (what the contract promises), generous upper bounds (CI machines).

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "support/fake_discord.hpp"

namespace gq::integration::discord_support {

using gq::testing::fake_discord;
using gq::testing::fake_limits;
using gq::testing::fake_response;
using json = nlohmann::json;

inline constexpr const char* k_granted_message = "You're free to connect now! :)";

inline std::string shard_target(long long shard) { return "/?shard=" + std::to_string(shard); }

inline std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// GET /status as JSON (an empty object when it does not answer 200 with a JSON object).
inline json status_of(const server_process& server) {
  auto reply = http_get(server.port(), "/status");
  auto body = reply.json();
  if (reply.status != 200 || !body.is_object()) return json::object();
  return body;
}

// Polls `condition` every 20 ms until it holds (true) or `timeout` passes (false).
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// One series of GET /metrics (name with labels, as printed); -1 when absent.
inline double metric_of(const server_process& server, const std::string& series) {
  const auto text = http_get(server.port(), "/metrics").body;
  const auto at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

// True once /status says a fetch from Discord succeeded and max_concurrency is `expected`.
inline bool wait_for_discord_limits(const server_process& server,
                                    long long expected_max_concurrency,
                                    std::chrono::milliseconds timeout = 5s) {
  return eventually(
      [&] {
        auto status = status_of(server);
        return status.is_object() && status.contains("last_refresh") &&
               !status["last_refresh"].is_null() && status["max_concurrency"].is_number() &&
               status["max_concurrency"].get<long long>() == expected_max_concurrency;
      },
      timeout);
}

inline bool is_grant(const raw_response& response) {
  auto body = response.json();
  return response.status == 200 && body.is_object() && body.contains("message") &&
         body["message"] == k_granted_message;
}

// A shard as a bot runs it: asks the queue on a connection of its own (a thread waits for the
// answer) and, when granted, identifies with Discord (the fake) at once.
class shard_client {
 public:
  shard_client(std::uint16_t port, long long shard, fake_discord* discord,
               std::chrono::milliseconds timeout = 20s)
      : shard_(shard), connection_(port) {
    sent_at_ = std::chrono::steady_clock::now();
    if (!connection_.connected() ||
        !connection_.send_all(request_text(shard_target(shard), "Connection: close\r\n"))) {
      finished_ = true;
      return;
    }
    reader_ = std::thread([this, discord, timeout] {
      auto response = connection_.read_response(timeout);
      if (response && is_grant(*response) && discord != nullptr) {
        identified_ = discord->identify();
      }
      std::lock_guard lock{mutex_};
      response_ = std::move(response);
      finished_ = true;
    });
  }
  ~shard_client() {
    connection_.hang_up();
    if (reader_.joinable()) reader_.join();
  }
  shard_client(const shard_client&) = delete;
  shard_client& operator=(const shard_client&) = delete;

  void join() {
    if (reader_.joinable()) reader_.join();
  }
  bool finished() const { return finished_; }
  bool granted() {
    join();
    return response_ && is_grant(*response_);
  }
  int status() {
    join();
    return response_ ? response_->status : 0;
  }
  // When the kernel received the grant's first byte: on loopback, when the server sent it. Not
  // the time this thread read it, which adds the client's own scheduling delay (eight reader
  // threads on two cores) and can make two grants of a bucket look closer than they were sent.
  steady_time granted_at() {
    join();
    return response_ ? response_->arrived_at : steady_time{};
  }
  bool identified() {
    join();
    return identified_;
  }
  long long shard() const { return shard_; }
  steady_time sent_at() const { return sent_at_; }

 private:
  long long shard_;
  raw_connection connection_;
  steady_time sent_at_{};
  std::thread reader_;
  std::mutex mutex_;
  std::optional<raw_response> response_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> identified_{false};
};

using shard_clients = std::vector<std::unique_ptr<shard_client>>;

inline shard_clients start_shards(std::uint16_t port, const std::vector<long long>& shards,
                                  fake_discord* discord, std::chrono::milliseconds timeout = 20s) {
  shard_clients clients;
  for (long long shard : shards)
    clients.push_back(std::make_unique<shard_client>(port, shard, discord, timeout));
  return clients;
}

inline env_map::value_type token_env(const std::string& token) { return {"DISCORD_TOKEN", token}; }

}  // namespace gq::integration::discord_support
