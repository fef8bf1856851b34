#pragma once
// Clients for the integration tests: cpp-httplib for plain request/answer checks, and requests
// on raw connections (raw_connection.hpp) each waited for by a thread of its own, for tests that
// fire many at once and look at when each answer arrived.

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/raw_connection.hpp"
#include "integration/server_process.hpp"

namespace gq::integration {

// ---------------------------------------------------------------------------------------------
// cpp-httplib: one request per connection (keep-alive off), the target sent exactly as given.

struct http_reply {
  int status = 0;  // 0: no answer (see error)
  std::string body;
  httplib::Headers headers;
  std::string error;
  steady_time at{};  // when the answer was complete

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
  bool has_header(const std::string& name) const { return headers.count(name) != 0; }
  // The body as JSON; a discarded value when it is not JSON.
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline http_reply http_request(std::uint16_t port, const std::string& method,
                               const std::string& target, const httplib::Headers& headers = {},
                               std::chrono::seconds timeout = 60s) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(false);
  client.set_url_encode(false);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(timeout.count(), 0);
  client.set_write_timeout(5, 0);
  httplib::Result result = method == "POST" ? client.Post(target, headers, "{}", "application/json")
                                            : client.Get(target, headers);
  http_reply reply;
  reply.at = std::chrono::steady_clock::now();
  if (!result) {
    reply.error = httplib::to_string(result.error());
    return reply;
  }
  reply.status = result->status;
  reply.body = result->body;
  reply.headers = result->headers;
  return reply;
}

inline http_reply http_get(std::uint16_t port, const std::string& target,
                           const httplib::Headers& headers = {}) {
  return http_request(port, "GET", target, headers);
}

// GET /status's "waiting", or -1 when /status does not answer with it.
inline long long waiting_count(std::uint16_t port, const httplib::Headers& headers = {}) {
  auto reply = http_get(port, "/status", headers);
  auto body = reply.json();
  if (reply.status != 200 || !body.is_object() || !body.contains("waiting") ||
      !body["waiting"].is_number_integer()) {
    return -1;
  }
  return body["waiting"].get<long long>();
}

// Polls /status until `waiting` is `count` (every 20 ms, for at most `timeout`). Used to know
// that waiters have reached the server before the test acts on them, instead of sleeping.
inline bool wait_for_waiting(std::uint16_t port, long long count,
                             std::chrono::milliseconds timeout = 5s,
                             const httplib::Headers& headers = {}) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waiting_count(port, headers) == count) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// A grant as the journal has it (GET /history): the instants are the server's own decisions,
// not a client's reading of when an answer arrived, so tests compare them exactly.
struct journaled_grant {
  long long released_at = 0;  // the due instant the bucket decided (unix ms)
  long long shard = -1;       // -1: a grant without a shard
  long long bucket = 0;
  long long waited_ms = 0;  // from the request's arrival to released_at
};

// Every grant in the journal (up to 10,000), oldest first; empty when /history does not answer.
inline std::vector<journaled_grant> journaled_grants(std::uint16_t port,
                                                     const httplib::Headers& headers = {}) {
  auto body = http_get(port, "/history?limit=10000", headers).json();
  std::vector<journaled_grant> grants;
  if (!body.is_object() || !body.contains("releases") || !body["releases"].is_array())
    return grants;
  for (const auto& row : body["releases"]) {
    grants.push_back({row["released_at"].get<long long>(),
                      row["shard"].is_null() ? -1 : row["shard"].get<long long>(),
                      row["bucket"].get<long long>(), row["waited_ms"].get<long long>()});
  }
  std::reverse(grants.begin(), grants.end());  // /history is newest first
  return grants;
}

// The journal of shards 0-3 asked at once with four buckets: one grant per bucket, each due at
// its arrival, none waiting for another bucket's interval (5 s).
inline void expect_four_buckets_granted_in_parallel(const std::vector<journaled_grant>& grants) {
  ASSERT_EQ(grants.size(), 4u);
  std::set<long long> buckets;
  for (const auto& grant : grants) {
    buckets.insert(grant.bucket);
    EXPECT_LT(grant.waited_ms, 5000) << "shard " << grant.shard << " waited an interval";
  }
  EXPECT_EQ(buckets, (std::set<long long>{0, 1, 2, 3}));
  EXPECT_LT(grants.back().released_at - grants.front().released_at, 5000)
      << "a bucket was paced behind another";
}

// ---------------------------------------------------------------------------------------------
// Requests on raw connections.

// A request sent on its own connection, whose answer a thread of its own waits for.
class pending_request {
 public:
  pending_request(std::uint16_t port, std::string target, std::chrono::milliseconds timeout = 60s)
      : target_(std::move(target)), connection_(port) {
    sent_at_ = std::chrono::steady_clock::now();
    if (!connection_.connected() ||
        !connection_.send_all(request_text(target_, "Connection: close\r\n"))) {
      done_ = true;
      return;
    }
    reader_ = std::thread([this, timeout] {
      response_ = connection_.read_response(timeout);
      done_ = true;
    });
  }
  ~pending_request() {
    connection_.hang_up();
    if (reader_.joinable()) reader_.join();
  }
  pending_request(const pending_request&) = delete;
  pending_request& operator=(const pending_request&) = delete;

  // Waits for the answer (or the end of the connection).
  const std::optional<raw_response>& get() {
    if (reader_.joinable()) reader_.join();
    return response_;
  }
  bool done() const { return done_; }
  // The client gives up: closes its side, the reader ends with no answer.
  void hang_up() {
    connection_.hang_up();
    if (reader_.joinable()) reader_.join();
  }
  int status() {
    const auto& response = get();
    return response ? response->status : 0;
  }
  steady_time answered_at() {
    const auto& response = get();
    return response ? response->first_byte_at : steady_time{};
  }
  // The kernel's receive time of the answer (see the top of this file); zero without one.
  steady_time arrived_at() {
    const auto& response = get();
    return response ? response->arrived_at : steady_time{};
  }
  steady_time sent_at() const { return sent_at_; }
  const std::string& target() const { return target_; }

 private:
  std::string target_;
  raw_connection connection_;
  steady_time sent_at_{};
  std::thread reader_;
  std::optional<raw_response> response_;
  std::atomic<bool> done_{false};
};

using pending_list = std::vector<std::unique_ptr<pending_request>>;

// Sends one request per target, each on its own connection with a thread waiting for its
// answer, in the order given, `stagger` apart (0: as fast as they can be sent).
inline pending_list fire_concurrently(std::uint16_t port, const std::vector<std::string>& targets,
                                      std::chrono::milliseconds stagger = 0ms) {
  pending_list requests;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (i > 0 && stagger.count() > 0) std::this_thread::sleep_for(stagger);
    requests.push_back(std::make_unique<pending_request>(port, targets[i]));
  }
  return requests;
}

// The kernel's receive time of each 200, in the order of `requests`; requests that did not get
// a 200 are left out.
inline std::vector<steady_time> grant_times(pending_list& requests) {
  std::vector<steady_time> times;
  for (auto& request : requests) {
    if (request->status() == 200) times.push_back(request->arrived_at());
  }
  return times;
}

// The client-side steady_clock time each 200 was read, as grant_times().
inline std::vector<steady_time> grant_read_times(pending_list& requests) {
  std::vector<steady_time> times;
  for (auto& request : requests) {
    if (request->status() == 200) times.push_back(request->answered_at());
  }
  return times;
}

}  // namespace gq::integration
