#pragma once
// A fake of Discord's GET /gateway/bot for tests: a real HTTP server on 127.0.0.1 (ephemeral port)
// in a thread of its own, so that both discord_client and the real binary
// (DISCORD_API_URL=fake.api_url()) talk to it over a socket.
//
// It models Discord's side of the daily budget: `remaining` falls when the test calls identify()
// (a shard that was granted and connected) and refills to `total` at the reset. Answers can be
// scripted: 401, 429, 5xx, garbage, delays. Every request is recorded for assertions.
//
// Header-only: include it from any test linked with PkgConfig::HTTPLIB (gq_app carries it).
// It ignores SIGPIPE for the whole test process: cpp-httplib 0.11 writes with send(..., 0), and a
// client that timed out and hung up would otherwise kill the test binary.

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gq::testing {

// One scripted answer.
struct fake_response {
  enum class kind {
    limits,        // 200 with the modelled session_start_limit
    unauthorized,  // 401 {"message": "401: Unauthorized", "code": 0}
    rate_limited,  // 429 with retry_after in the body and/or a Retry-After header
    raw,           // `status` with `body` as given (5xx, garbage, ...)
  };
  kind what = kind::limits;
  int status = 200;
  std::string body;
  std::optional<double> retry_after_body;  // seconds, as Discord's JSON has it
  std::string retry_after_header;          // sent when not empty
  std::chrono::milliseconds delay{0};      // waited before answering (cut short by shutdown)

  static fake_response limits() { return {}; }
  static fake_response unauthorized() { return {kind::unauthorized, 401, {}, {}, {}, {}}; }
  // As Discord sends it: both the body's float and the header's whole seconds.
  static fake_response rate_limited(double seconds) {
    return {kind::rate_limited,
            429,
            {},
            seconds,
            std::to_string(static_cast<long long>(std::ceil(seconds))),
            {}};
  }
  static fake_response rate_limited_header_only(std::string header) {
    return {kind::rate_limited, 429, {}, std::nullopt, std::move(header), {}};
  }
  static fake_response server_error(int status = 503) {
    return {kind::raw, status, R"({"message": "upstream connect error", "code": 0})", {}, {}, {}};
  }
  static fake_response garbage(std::string body = "<html>Bad Gateway</html>") {
    return {kind::raw, 200, std::move(body), {}, {}, {}};
  }
  static fake_response raw(int status, std::string body) {
    return {kind::raw, status, std::move(body), {}, {}, {}};
  }
  fake_response after(std::chrono::milliseconds wait) const {
    fake_response copy = *this;
    copy.delay = wait;
    return copy;
  }
};

struct recorded_request {
  std::string path;
  std::string authorization;  // empty when absent
  std::string user_agent;
  std::int64_t received_at = 0;  // the fake's clock, unix ms
};

// Discord's session_start_limit as the fake models it.
struct fake_limits {
  std::uint32_t total = 1000;
  std::uint32_t remaining = 1000;
  std::chrono::milliseconds reset_after = std::chrono::hours{24};  // from construction
  std::uint32_t max_concurrency = 1;
  std::chrono::milliseconds window = std::chrono::hours{24};  // between later resets
};

class fake_discord {
 public:
  using clock_fn = std::function<std::int64_t()>;  // unix ms

  using limits = fake_limits;

  static std::int64_t wall_clock() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  explicit fake_discord(limits initial = {}, clock_fn clock = wall_clock)
      : clock_(std::move(clock)) {
    std::signal(SIGPIPE, SIG_IGN);
    set_limits(initial);
    server_.Get(R"((.*)/gateway/bot)",
                [this](const httplib::Request& request, httplib::Response& response) {
                  answer(request, response);
                });
    server_.Get(R"(.*)", [this](const httplib::Request& request, httplib::Response& response) {
      record(request);
      response.status = 404;
      response.set_content(R"({"message": "404: Not Found", "code": 0})", "application/json");
    });
    // Bound (and listening) before the constructor returns: no wait for readiness is needed.
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("fake_discord: cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib's stop() does nothing until the accept loop runs: a fake destroyed before that
    // would leave its thread listening forever.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }

  ~fake_discord() {
    {
      std::lock_guard lock{mutex_};
      stopping_ = true;
    }
    changed_.notify_all();  // cuts delayed answers short, so that stop() does not wait for them
    server_.stop();
    thread_.join();
  }

  fake_discord(const fake_discord&) = delete;
  fake_discord& operator=(const fake_discord&) = delete;

  int port() const { return port_; }
  // The value for DISCORD_API_URL / discord_client.
  std::string api_url(const std::string& prefix = "/api/v10") const {
    return "http://127.0.0.1:" + std::to_string(port_) + prefix;
  }

  // -- Discord's budget -------------------------------------------------------------------------

  // Restarts the window: the next reset is `reset_after` from now.
  void set_limits(const limits& next) {
    std::lock_guard lock{mutex_};
    limits_ = next;
    reset_at_ = clock_() + next.reset_after.count();
  }

  // Changes max_concurrency for later answers (Discord raising a bot's concurrency mid-run).
  void set_max_concurrency(std::uint32_t max_concurrency) {
    std::lock_guard lock{mutex_};
    limits_.max_concurrency = max_concurrency;
  }

  // A session start as Discord counts it. Over the limit it returns false and counts an overdraft:
  // the real Discord would reset the token (and with revoke_on_overdraft, so does the fake).
  bool identify() {
    std::lock_guard lock{mutex_};
    refill();
    ++identifies_;
    if (limits_.remaining == 0) {
      ++overdrafts_;
      if (revoke_on_overdraft_) revoked_ = true;
      return false;
    }
    --limits_.remaining;
    return true;
  }

  std::uint32_t remaining() {
    std::lock_guard lock{mutex_};
    refill();
    return limits_.remaining;
  }
  std::uint64_t identifies() const {
    std::lock_guard lock{mutex_};
    return identifies_;
  }
  std::uint64_t overdrafts() const {
    std::lock_guard lock{mutex_};
    return overdrafts_;
  }

  // After an overdraft every request gets 401, as after Discord's token reset.
  void set_revoke_on_overdraft(bool on) {
    std::lock_guard lock{mutex_};
    revoke_on_overdraft_ = on;
  }
  // When set, a request whose Authorization is not "Bot <token>" gets 401.
  void set_expected_token(std::string token) {
    std::lock_guard lock{mutex_};
    expected_authorization_ = "Bot " + token;
  }

  // -- Scripted answers -------------------------------------------------------------------------

  // The answer to every later request not covered by respond_once.
  // When the current window resets (the fake's clock, unix ms).
  std::int64_t reset_at() const {
    std::lock_guard lock{mutex_};
    return reset_at_;
  }

  void respond(fake_response response) {
    std::lock_guard lock{mutex_};
    default_response_ = std::move(response);
  }
  // The answer to one upcoming request; queued answers are used first, in order.
  void respond_once(fake_response response) {
    std::lock_guard lock{mutex_};
    once_.push_back(std::move(response));
  }

  // -- Observation ------------------------------------------------------------------------------

  std::vector<recorded_request> requests() const {
    std::lock_guard lock{mutex_};
    return requests_;
  }
  std::size_t request_count() const {
    std::lock_guard lock{mutex_};
    return requests_.size();
  }
  // Blocks until `count` requests have arrived (true) or `timeout` passed (false).
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock lock{mutex_};
    return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
  }

 private:
  void refill() {  // requires mutex_
    const std::int64_t now = clock_();
    if (now < reset_at_) return;
    const std::int64_t window = std::max<std::int64_t>(limits_.window.count(), 1);
    reset_at_ += ((now - reset_at_) / window + 1) * window;
    limits_.remaining = limits_.total;
  }

  void record(const httplib::Request& request) {
    std::lock_guard lock{mutex_};
    requests_.push_back({request.path, request.get_header_value("Authorization"),
                         request.get_header_value("User-Agent"), clock_()});
    changed_.notify_all();
  }

  void answer(const httplib::Request& request, httplib::Response& response) {
    record(request);
    std::unique_lock lock{mutex_};
    fake_response script = default_response_;
    if (!once_.empty()) {
      script = std::move(once_.front());
      once_.pop_front();
    }
    if (script.delay.count() > 0 &&
        changed_.wait_for(lock, script.delay, [this] { return stopping_; })) {
      response.status = 503;
      return;
    }
    const bool rejected =
        revoked_ || (!expected_authorization_.empty() &&
                     request.get_header_value("Authorization") != expected_authorization_);
    if (rejected || script.what == fake_response::kind::unauthorized) {
      response.status = 401;
      response.set_content(R"({"message": "401: Unauthorized", "code": 0})", "application/json");
      return;
    }
    switch (script.what) {
      case fake_response::kind::limits: {
        refill();
        response.status = 200;
        response.set_content(
            R"({"url": "wss://gateway.discord.gg", "shards": 1, "session_start_limit": {"total": )" +
                std::to_string(limits_.total) + R"(, "remaining": )" +
                std::to_string(limits_.remaining) + R"(, "reset_after": )" +
                std::to_string(reset_at_ - clock_()) + R"(, "max_concurrency": )" +
                std::to_string(limits_.max_concurrency) + "}}",
            "application/json");
        return;
      }
      case fake_response::kind::rate_limited: {
        response.status = 429;
        std::string body = R"({"message": "You are being rate limited.", "global": false)";
        if (script.retry_after_body) {
          body += R"(, "retry_after": )" + std::to_string(*script.retry_after_body);
        }
        response.set_content(body + "}", "application/json");
        if (!script.retry_after_header.empty()) {
          response.set_header("Retry-After", script.retry_after_header);
        }
        return;
      }
      default:
        response.status = script.status;
        response.set_content(script.body, "application/json");
        return;
    }
  }

  clock_fn clock_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;  // a request arrived, or stopping_
  bool stopping_ = false;
  limits limits_;
  std::int64_t reset_at_ = 0;
  std::uint64_t identifies_ = 0;
  std::uint64_t overdrafts_ = 0;
  bool revoke_on_overdraft_ = false;
  bool revoked_ = false;
  std::string expected_authorization_;
  fake_response default_response_;
  std::deque<fake_response> once_;
  std::vector<recorded_request> requests_;
};

}  // namespace gq::testing
