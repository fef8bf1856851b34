#pragma once
// A loopback TCP proxy for tests that break a connection on purpose: it listens on 127.0.0.1 at
// a port the kernel picks and relays every connection it accepts to 127.0.0.1:target_port.
// cut() ends every relayed connection at once, on both sides (the client and the target each see
// the connection end, as when a network path between them dies), and from then on every new
// connection is accepted and closed at once, so a client cannot get through until restore().
//
// One thread relays everything (poll over the listener, a wake-up pipe and both sockets of every
// connection); the destructor stops and joins it and closes every socket.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gq::testing {

class tcp_proxy {
 public:
  // Throws std::runtime_error when it cannot listen.
  explicit tcp_proxy(std::uint16_t target_port) : target_port_(target_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in address = loopback(0);
    socklen_t size = sizeof address;
    if (listener_ < 0 || ::bind(listener_, as_sockaddr(address), sizeof address) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, as_sockaddr(address), &size) != 0 ||
        ::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
      if (listener_ >= 0) ::close(listener_);
      throw std::runtime_error("tcp_proxy: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { relay(); });
  }

  ~tcp_proxy() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake();
    thread_.join();
    for (auto& each : links_) each.close_both();
    ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  // The port clients connect to.
  std::uint16_t port() const { return port_; }

  // Ends every relayed connection now: both sockets of each are shut down (FIN to the client and
  // to the target) before this returns; new connections are closed as soon as they are accepted.
  void cut() {
    std::lock_guard<std::mutex> lock(mutex_);
    cut_ = true;
    for (auto& each : links_) each.shut_down();
    wake();
  }

  // Relays new connections again (those cut stay ended).
  void restore() {
    std::lock_guard<std::mutex> lock(mutex_);
    cut_ = false;
  }

  // Connections relayed since the start (for tests that check the client went through it).
  int connections_relayed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return relayed_;
  }

 private:
  // One relayed connection; bytes read from one side wait in a buffer until the other takes them.
  struct relayed_link {
    int client = -1;
    int target = -1;
    std::string to_target;
    std::string to_client;
    bool ended = false;

    void shut_down() {
      ::shutdown(client, SHUT_RDWR);
      ::shutdown(target, SHUT_RDWR);
      ended = true;
    }
    void close_both() {
      ::close(client);
      ::close(target);
    }
  };

  static sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    return address;
  }
  static sockaddr* as_sockaddr(sockaddr_in& address) {
    return reinterpret_cast<sockaddr*>(&address);
  }

  void wake() {
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake_[1], &byte, 1);
  }

  // Connects to the target (blocking: loopback answers at once); -1 when it refuses.
  int connect_target() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = loopback(target_port_);
    if (fd < 0 || ::connect(fd, as_sockaddr(address), sizeof address) != 0) {
      if (fd >= 0) ::close(fd);
      return -1;
    }
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
  }

  void accept_new() {
    for (;;) {
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (client < 0) return;
      const int one = 1;
      ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      bool refuse = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        refuse = cut_;
      }
      const int target = refuse ? -1 : connect_target();
      if (target < 0) {
        ::close(client);
        continue;
      }
      ::setsockopt(target, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard<std::mutex> lock(mutex_);
      if (cut_) {  // cut() ran while we connected: this one is refused too
        ::close(client);
        ::close(target);
        continue;
      }
      links_.push_back(relayed_link{client, target, {}, {}, false});
      ++relayed_;
    }
  }

  // Moves what `from` has into `pending`, then as much of `pending` as `to` takes. False when
  // either side has ended.
  static bool pump(int from, int to, std::string& pending, bool readable, bool writable) {
    if (readable && pending.empty()) {
      char chunk[65536];
      const ssize_t got = ::recv(from, chunk, sizeof chunk, 0);
      if (got == 0) return false;
      if (got < 0 && errno != EAGAIN && errno != EINTR) return false;
      if (got > 0) pending.assign(chunk, static_cast<std::size_t>(got));
      writable = true;
    }
    if (writable && !pending.empty()) {
      const ssize_t sent = ::send(to, pending.data(), pending.size(), MSG_NOSIGNAL);
      if (sent < 0 && errno != EAGAIN && errno != EINTR) return false;
      if (sent > 0) pending.erase(0, static_cast<std::size_t>(sent));
    }
    return true;
  }

  // What to poll a socket for: reading while what it sent before has been passed on, writing
  // while bytes for it wait.
  static short events(const std::string& from_it, const std::string& for_it) {
    return static_cast<short>((from_it.empty() ? POLLIN : 0) | (for_it.empty() ? 0 : POLLOUT));
  }

  void relay() {
    for (;;) {
      std::vector<pollfd> polled{{wake_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
      std::vector<std::list<relayed_link>::iterator> owners;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        for (auto it = links_.begin(); it != links_.end();) {
          if (it->ended) {  // cut, or one side closed: close both and forget it
            it->close_both();
            it = links_.erase(it);
            continue;
          }
          polled.push_back({it->client, events(it->to_target, it->to_client), 0});
          polled.push_back({it->target, events(it->to_client, it->to_target), 0});
          owners.push_back(it);
          ++it;
        }
      }
      if (::poll(polled.data(), polled.size(), -1) < 0 && errno != EINTR) return;
      if (polled[0].revents != 0) {
        char drain[64];
        while (::read(wake_[0], drain, sizeof drain) > 0) {
        }
      }
      if (polled[1].revents != 0) accept_new();
      std::lock_guard<std::mutex> lock(mutex_);
      for (std::size_t i = 0; i < owners.size(); ++i) {
        relayed_link& each = *owners[i];
        if (each.ended) continue;
        const pollfd& client = polled[2 + 2 * i];
        const pollfd& target = polled[3 + 2 * i];
        const auto readable = [](const pollfd& entry) {
          return (entry.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        };
        const auto writable = [](const pollfd& entry) { return (entry.revents & POLLOUT) != 0; };
        // An end on either side ends both, as a dead path would.
        if (!pump(each.client, each.target, each.to_target, readable(client), writable(target)) ||
            !pump(each.target, each.client, each.to_client, readable(target), writable(client))) {
          each.shut_down();
        }
      }
    }
  }

  const std::uint16_t target_port_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::list<relayed_link>
      links_;  // guarded by mutex_; sockets closed only by relay() or the destructor
  bool cut_ = false;
  bool stopping_ = false;
  int relayed_ = 0;
};

}  // namespace gq::testing
