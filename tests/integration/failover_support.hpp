#pragma once
// The harness of the failover tests (failover_test.cpp): gateway-queue processes on one
// PostgreSQL journal, clients for many shards that ask whichever of them serves, a /ready probe
// with a deadline, and the checks of what the clients saw and what the journal holds.
//
// Slots: each queue process of a test has a slot (0, 1, ...) whose port the test updates when it
// restarts the process (a restart gets a new port). Clients and checks name queues by slot.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/raw_connection.hpp"

namespace gq::integration::failover {

using namespace std::chrono_literals;

// The status of GET `target` at 127.0.0.1:port, 0 when the queue does not answer within
// `timeout` (gone, refusing, or frozen: a stopped process's kernel still completes the TCP
// handshake, so the connect is non-blocking and the whole exchange has one deadline).
inline int probe_status(std::uint16_t port, const std::string& target,
                        std::chrono::milliseconds timeout = 200ms) {
  if (port == 0) return 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const auto left = [&] {
    return static_cast<int>(std::max<long long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now())
               .count()));
  };
  int status = 0;
  std::string received;
  const std::string request = request_text(target, "Connection: close\r\n");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 ||
      errno == EINPROGRESS) {
    pollfd entry{fd, POLLOUT, 0};
    int error = 0;
    socklen_t size = sizeof error;
    if (::poll(&entry, 1, left()) == 1 &&
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0 &&
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
      entry = {fd, POLLIN, 0};
      while (received.find("\r\n") == std::string::npos && ::poll(&entry, 1, left()) == 1) {
        char chunk[512];
        const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
        if (got <= 0) break;
        received.append(chunk, static_cast<std::size_t>(got));
      }
      const std::size_t space = received.find(' ');
      if (received.find("\r\n") != std::string::npos && space != std::string::npos) {
        status = std::atoi(received.c_str() + space + 1);
      }
    }
  }
  ::close(fd);
  return status;
}

// Polls GET /ready of every slot in `ports` (0: no process) every 10 ms until one answers 200,
// for at most `timeout`. The slot and when its 200 arrived, or nullopt.
struct ready_answer {
  int slot = -1;
  steady_time at{};
};
inline std::optional<ready_answer> wait_for_active(const std::vector<std::uint16_t>& ports,
                                                   std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (std::size_t slot = 0; slot < ports.size(); ++slot) {
      if (probe_status(ports[slot], "/ready", 100ms) == 200) {
        return ready_answer{static_cast<int>(slot), std::chrono::steady_clock::now()};
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

// What a resumed queue (SIGCONT after its session ended) said to GET /ready, polled every 10 ms
// from `resumed_at` until it answers 503, for at most `timeout`.
struct resume_notice {
  double first_standby_ms = -1;  // when /ready first answered 503 (-1: not within the timeout)
  int ready_answers = 0;         // /ready 200s before that
  double last_ready_ms = -1;     // when the last of them arrived
};
inline resume_notice watch_until_standby(std::uint16_t port, steady_time resumed_at,
                                         std::chrono::milliseconds timeout) {
  resume_notice notice;
  while (std::chrono::steady_clock::now() < resumed_at + timeout) {
    const int status = probe_status(port, "/ready");
    const double at = ms_between_exact(resumed_at, std::chrono::steady_clock::now());
    if (status == 503) {
      notice.first_standby_ms = at;
      break;
    }
    if (status == 200) {
      ++notice.ready_answers;
      notice.last_ready_ms = at;
    }
    std::this_thread::sleep_for(10ms);
  }
  return notice;
}

// One answer to a queue request as a client saw it.
struct observed_answer {
  long long shard = 0;
  int slot = 0;
  int status = 0;
  std::string retry_after;
  std::string body;
  steady_time at{};    // when the kernel received the answer's first byte (the server's send)
  kernel_time wall{};  // the same on the wall clock, to compare with the journal
};

// Clients for shards 0..shards-1, one thread each, asking the queues in `slots` for their shard
// on a new connection per request, as bots in front of a readiness-routed Service do:
//   - they start at the slot set by prefer() (the active one, as the test knows it);
//   - on 503 or a lost connection they retry after 50 ms at the preferred slot, or at the next
//     one if that is where they failed. They do not wait out Retry-After (1 s): requests must be
//     waiting at the new active the moment it takes over, the strictest case for the spacing;
//   - on 200 they prefer that slot; a draining client is then done, a continuous one asks again
//     at once;
//   - on 429 (the daily budget used up) a draining client is done, a continuous one asks again
//     after 200 ms.
// Every answer is recorded. stop() hangs up every open request and joins.
class shard_clients {
 public:
  enum class mode { drain, continuous };

  shard_clients(int shards, int slots, mode how, int preferred)
      : ports_(static_cast<std::size_t>(slots)),
        mode_(how),
        preferred_(preferred),
        shards_(shards) {
    for (auto& port : ports_) port = 0;
  }
  ~shard_clients() { stop(); }
  shard_clients(const shard_clients&) = delete;
  shard_clients& operator=(const shard_clients&) = delete;

  void set_port(int slot, std::uint16_t port) { ports_[static_cast<std::size_t>(slot)] = port; }
  void prefer(int slot) { preferred_ = slot; }

  void start() {
    for (int shard = 0; shard < shards_; ++shard) {
      threads_.emplace_back([this, shard] { run(shard); });
    }
  }

  // True once every draining client is done (it got its 200 or a 429), within `timeout`.
  bool wait_drained(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (finished_ < shards_) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
  // True once at least `count` 200s have arrived, within `timeout`.
  bool wait_granted(std::size_t count, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (granted_count() < count) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  void stop() {
    stopping_ = true;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (raw_connection* open : open_) open->hang_up();
    }
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

  std::size_t granted_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return granted_;
  }
  std::vector<observed_answer> answers() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return answers_;
  }
  std::vector<observed_answer> grants() const {
    std::vector<observed_answer> result;
    for (const auto& answer : answers()) {
      if (answer.status == 200) result.push_back(answer);
    }
    return result;
  }
  int finished() const { return finished_; }

 private:
  int other_than(int slot) const {
    const int preferred = preferred_;
    return preferred != slot ? preferred : (slot + 1) % static_cast<int>(ports_.size());
  }

  void run(long long shard) {
    int slot = preferred_;
    const std::string request =
        request_text("/?shard=" + std::to_string(shard), "Connection: close\r\n");
    while (!stopping_) {
      const std::uint16_t port = ports_[static_cast<std::size_t>(slot)];
      std::optional<raw_response> response;
      if (port != 0) {
        raw_connection connection(port);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          open_.insert(&connection);
        }
        if (!stopping_ && connection.connected() && connection.send_all(request)) {
          response = connection.read_response(60s);
        }
        std::lock_guard<std::mutex> lock(mutex_);
        open_.erase(&connection);
      }
      if (stopping_) return;
      if (!response) {  // gone, refused, or killed while we waited
        slot = other_than(slot);
        std::this_thread::sleep_for(50ms);
        continue;
      }
      record(shard, slot, *response);
      if (response->status == 200) {
        preferred_ = slot;
        if (mode_ == mode::drain) break;
      } else if (response->status == 429) {
        if (mode_ == mode::drain) break;
        std::this_thread::sleep_for(200ms);
      } else {
        slot = other_than(slot);
        std::this_thread::sleep_for(50ms);
      }
    }
    ++finished_;
  }

  void record(long long shard, int slot, const raw_response& response) {
    std::lock_guard<std::mutex> lock(mutex_);
    answers_.push_back({shard, slot, response.status, response.header("retry-after"), response.body,
                        response.arrived_at, response.arrived_unix});
    if (response.status == 200) ++granted_;
  }

  std::vector<std::atomic<std::uint16_t>> ports_;
  const mode mode_;
  std::atomic<int> preferred_;
  const int shards_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> finished_{0};
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::set<raw_connection*> open_;        // requests in flight, hung up by stop()
  std::vector<observed_answer> answers_;  // guarded by mutex_
  std::size_t granted_ = 0;               // guarded by mutex_
};

}  // namespace gq::integration::failover
