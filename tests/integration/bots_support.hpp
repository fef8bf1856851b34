#pragma once
// A queue that serves several bots through the real binary: a bots file written into the
// server's directory, each bot with an auth token of its own, and the requests of each bot.

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {

// One [[bot]] table.
struct bot_spec {
  std::string name;
  std::string settings;    // TOML lines: identify_interval_ms = 400, ...
  bool with_token = true;  // auth_token_file with the token "<name>-token"
};

inline std::string token_of(const bot_spec& bot) { return bot.name + "-token"; }

inline httplib::Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

// Writes the bots file (and each bot's token file) into `dir` and returns its path.
inline std::string write_bots_file(const std::string& dir, const std::vector<bot_spec>& bots) {
  const std::string path = dir + "/bots.toml";
  std::ofstream file(path, std::ios::trunc);
  for (const auto& bot : bots) {
    file << "[[bot]]\nname = \"" << bot.name << "\"\n" << bot.settings << "\n";
    if (bot.with_token) {
      std::ofstream(dir + "/" + bot.name + ".tokens", std::ios::trunc) << token_of(bot) << "\n";
      file << "auth_token_file = \"" << bot.name << ".tokens\"\n";
    }
  }
  return path;
}

// A server whose bots file names `bots` (QUEUE_BOTS_FILE), with the operator's token.
inline constexpr const char* k_operator_token = "operator-token";

inline void serve_bots(server_process& server, const std::vector<bot_spec>& bots) {
  server.set_env("QUEUE_BOTS_FILE", write_bots_file(server.dir(), bots));
}

// A bot without tokens of its own: open to anyone while QUEUE_AUTH_TOKEN is unset.
inline bot_spec open_bot(std::string name, std::string settings) {
  return {std::move(name), std::move(settings), false};
}

// Polls the bot's /status until `count` of its waiters are held (every 20 ms, at most 5 s).
inline bool wait_for_bot_waiting(std::uint16_t port, const std::string& bot, long long count) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto status = http_get(port, "/status?bot=" + bot).json();
    if (status.is_object() && status.value("waiting", -1LL) == count) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// The journal rows of an open bot, oldest first.
inline std::vector<journaled_grant> grants_of_open(const server_process& server,
                                                   const std::string& bot) {
  auto body = http_get(server.port(), "/history?limit=10000&bot=" + bot).json();
  std::vector<journaled_grant> grants;
  if (!body.is_object() || !body.contains("releases")) return grants;
  for (const auto& row : body["releases"]) {
    grants.push_back({row["released_at"].get<long long>(),
                      row["shard"].is_null() ? -1 : row["shard"].get<long long>(),
                      row["bucket"].get<long long>(), row["waited_ms"].get<long long>()});
  }
  std::reverse(grants.begin(), grants.end());
  return grants;
}

inline httplib::Headers operator_headers() { return bearer(k_operator_token); }

// SIGHUP after the bots file was rewritten; waits until the server says it applied it (or not).
inline std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// SIGHUP; true once the server logged `expected` once more than before (within 5 s).
inline bool signal_reload(server_process& server, const std::string& expected) {
  const auto logged = [&] {
    return count_of(server.stdout_text() + server.stderr_text(), expected);
  };
  const auto before = logged();
  ::kill(server.pid(), SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (logged() > before) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// The bots file rewritten with `bots`, then SIGHUP; true once the server applied it.
inline bool reload(server_process& server, const std::vector<bot_spec>& bots) {
  write_bots_file(server.dir(), bots);
  return signal_reload(server, "SIGHUP: bots file applied");
}

// The journal rows of one bot, oldest first, as its own token reads them.
inline std::vector<journaled_grant> grants_of(const server_process& server, const bot_spec& bot) {
  return journaled_grants(server.port(), bearer(token_of(bot)));
}

}  // namespace gq::integration
