#pragma once
// Hostile and careless clients of a gateway-queue on 127.0.0.1, each on a thread of its own, for
// the attack test (tests/integration/attack_test.cpp) and the attack benchmark (bench/attack.cpp):
// - slowloris: holds up to `slowloris_connections` connections, each trickling one byte of a
//   never-ending request header per second, and reopens every one the server closes;
// - garbage: one connection after another sending random bytes, an oversized request line or
//   oversized headers, reading whatever answer comes until the server closes;
// - churn: opens and closes connections as fast as it can;
// - probe: a real client, every `probe_period`: connects, GET /health, and records how long the
//   answer took (connect included); an answer that never comes counts as `probe_timeout`.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gq::testing {

struct attack_options {
  std::uint16_t port = 0;
  std::size_t slowloris_connections = 2048;
  std::chrono::milliseconds probe_period{500};
  std::chrono::milliseconds probe_timeout{1000};
};

struct attack_report {
  std::uint64_t slowloris_opened = 0;
  std::uint64_t slowloris_closed_by_server = 0;
  std::uint64_t garbage_requests = 0;
  std::uint64_t garbage_answered = 0;  // the server answered (400, 413, 414, 431, ...) and closed
  std::uint64_t churn_connections = 0;
  std::vector<double> probe_ms;  // each probe's answer time; a probe with no answer is not here
  std::uint64_t probe_failures = 0;
};

class attack {
 public:
  explicit attack(attack_options options) : options_(options) {}
  ~attack() { stop(); }
  attack(const attack&) = delete;
  attack& operator=(const attack&) = delete;

  void start() {
    threads_.emplace_back([this] { slowloris(); });
    threads_.emplace_back([this] { garbage(); });
    threads_.emplace_back([this] { churn(); });
    threads_.emplace_back([this] { probe(); });
  }

  // Stops every client and closes their connections; the report is final afterwards.
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

  const attack_report& report() const { return report_; }

 private:
  using clock = std::chrono::steady_clock;

  // A connected TCP socket to the server (non-blocking when asked), or -1.
  int connect_to_server(bool non_blocking) const {
    const int fd =
        ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(options_.port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
        errno != EINPROGRESS) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  // A connection that completed within `limit` (a server that stopped accepting must not hang
  // the attackers), in blocking mode; -1 otherwise.
  int connect_within(std::chrono::milliseconds limit) const {
    const int fd = connect_to_server(true);
    if (fd < 0) return -1;
    pollfd entry{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof error;
    if (::poll(&entry, 1, static_cast<int>(limit.count())) != 1 ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
      ::close(fd);
      return -1;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
  }

  // Reads until the server closes or `limit` passes; true when anything arrived.
  static bool drain_until_closed(int fd, std::chrono::milliseconds limit) {
    const auto deadline = clock::now() + limit;
    bool got = false;
    char buffer[4096];
    while (clock::now() < deadline) {
      pollfd entry{fd, POLLIN, 0};
      if (::poll(&entry, 1, 50) <= 0) continue;
      const auto n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      got = true;
    }
    return got;
  }

  void slowloris() {
    struct victim {
      int fd = -1;
      std::size_t sent = 0;
    };
    std::vector<victim> connections(options_.slowloris_connections);
    const std::string prefix = "GET /?shard=1 HTTP/1.1\r\nHost: gateway-queue\r\nX-Slow: ";
    auto next_tick = clock::now();
    while (!stop_) {
      // Reopen what the server closed (or what never connected), a few hundred per pass so that
      // the other clients get a turn.
      std::size_t opened = 0;
      for (auto& c : connections) {
        if (c.fd >= 0 || opened >= 256 || stop_) continue;
        c.fd = connect_to_server(true);
        c.sent = 0;
        if (c.fd >= 0) {
          ++opened;
          ++report_.slowloris_opened;
        }
      }
      // Notice closes.
      std::vector<pollfd> entries;
      std::vector<victim*> owners;
      for (auto& c : connections) {
        if (c.fd < 0) continue;
        entries.push_back({c.fd, POLLIN, 0});
        owners.push_back(&c);
      }
      ::poll(entries.data(), entries.size(), 0);
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& entry = entries[i];
        if (!(entry.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buffer[1024];
        if (::recv(entry.fd, buffer, sizeof buffer, MSG_DONTWAIT) > 0 &&
            !(entry.revents & (POLLHUP | POLLERR)))
          continue;  // an answer (408) before the close: the close comes next
        ::close(owners[i]->fd);
        owners[i]->fd = -1;
        ++report_.slowloris_closed_by_server;
      }
      // One byte per connection per second.
      if (clock::now() >= next_tick) {
        next_tick += std::chrono::seconds{1};
        for (auto& c : connections) {
          if (c.fd < 0) continue;
          const char byte = c.sent < prefix.size() ? prefix[c.sent] : 'a';
          if (::send(c.fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) ++c.sent;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    for (auto& c : connections)
      if (c.fd >= 0) ::close(c.fd);
  }

  void garbage() {
    std::mt19937_64 random{12345};
    const std::string long_line = "GET /" + std::string(64 * 1024, 'a') + " HTTP/1.1\r\n\r\n";
    std::string long_headers = "GET / HTTP/1.1\r\nHost: gateway-queue\r\n";
    while (long_headers.size() < 64 * 1024)
      long_headers += "X-Junk: " + std::string(100, 'j') + "\r\n";
    long_headers += "\r\n";
    for (std::uint64_t round = 0; !stop_; ++round) {
      const int fd = connect_within(std::chrono::milliseconds{1000});
      if (fd < 0) continue;
      std::string bytes;
      switch (round % 3) {
        case 0:
          bytes.resize(4096);
          for (auto& c : bytes) c = static_cast<char>(random());
          break;
        case 1:
          bytes = long_line;
          break;
        default:
          bytes = long_headers;
          break;
      }
      timeval timeout{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);  // the server may close midway
      ++report_.garbage_requests;
      if (drain_until_closed(fd, std::chrono::milliseconds{2000})) ++report_.garbage_answered;
      ::close(fd);
    }
  }

  void churn() {
    while (!stop_) {
      const int fd = connect_within(std::chrono::milliseconds{100});
      if (fd >= 0) {
        ::close(fd);
        ++report_.churn_connections;
      }
    }
  }

  void probe() {
    const std::string request =
        "GET /health HTTP/1.1\r\nHost: gateway-queue\r\nConnection: close\r\n\r\n";
    auto next = clock::now();
    while (!stop_) {
      next += options_.probe_period;
      const auto began = clock::now();
      const int fd = connect_to_server(true);
      bool answered = false;
      if (fd >= 0) {
        const auto deadline = began + options_.probe_timeout;
        bool sent = false;
        while (!answered && clock::now() < deadline) {
          pollfd entry{fd, static_cast<short>(sent ? POLLIN : POLLOUT), 0};
          if (::poll(&entry, 1, 10) <= 0) continue;
          if (!sent) {
            sent = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                   static_cast<ssize_t>(request.size());
            if (!sent) break;
            continue;
          }
          char buffer[256];
          const auto n = ::recv(fd, buffer, sizeof buffer, 0);
          answered = n >= 12 && std::string_view(buffer, 12) == "HTTP/1.1 200";
          break;
        }
        ::close(fd);
      }
      if (answered)
        report_.probe_ms.push_back(
            std::chrono::duration<double, std::milli>(clock::now() - began).count());
      else
        ++report_.probe_failures;
      std::this_thread::sleep_until(std::max(next, clock::now()));
    }
  }

  attack_options options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  attack_report report_;  // each field written by one thread; read after stop()
};

}  // namespace gq::testing
