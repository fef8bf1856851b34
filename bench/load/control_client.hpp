#pragma once
// bench/load's control plane: /health and /status through cpp-httplib, on a connection of its own
// (2 s connect, 5 s read timeout), with the bearer token when --auth is given.

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "load/options.hpp"

namespace gq::bench {

class control_client {
 public:
  explicit control_client(const options& o) : o_(o), cli_(o.host, o.port) {
    cli_.set_connection_timeout(2, 0);
    cli_.set_read_timeout(5, 0);
    if (!o.auth.empty()) cli_.set_bearer_token_auth(o.auth.c_str());
  }
  bool healthy() {
    auto r = cli_.Get("/health");
    return r && r->status == 200;
  }
  std::optional<nlohmann::json> status() {
    auto r = cli_.Get("/status");
    if (!r || r->status != 200) return std::nullopt;
    try {
      return nlohmann::json::parse(r->body);
    } catch (...) {
      return std::nullopt;
    }
  }
  std::optional<long long> waiting() {
    auto s = status();
    if (!s || !s->contains("waiting") || !(*s)["waiting"].is_number()) return std::nullopt;
    return (*s)["waiting"].get<long long>();
  }

 private:
  const options& o_;
  httplib::Client cli_;
};

}  // namespace gq::bench
