#include "load/connection_pool.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "load/clock.hpp"

namespace gq::bench {

connection_pool::connection_pool(const options& o) : o_(o) {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  std::memset(&dst_, 0, sizeof dst_);
  dst_.sin_family = AF_INET;
  dst_.sin_port = htons(o.port);
  if (inet_pton(AF_INET, o.host.c_str(), &dst_.sin_addr) != 1)
    throw std::runtime_error("--url: host must be a numeric IPv4 address: " + o.host);
}

connection_pool::~connection_pool() {
  for (auto& c : conns_)
    if (c.fd >= 0) ::close(c.fd);
  ::close(ep_);
}

std::size_t connection_pool::add(std::uint64_t shard, std::uint32_t lane, bool prime,
                                 std::uint32_t bot) {
  conn c;
  c.shard = shard;
  c.bucket = lane;
  c.bot = bot;
  c.prime = prime;
  c.defer_send = prime;
  conns_.push_back(std::move(c));
  return conns_.size() - 1;
}

void connection_pool::connect_range(std::size_t first, std::size_t last, int sources) {
  std::size_t next = first;
  for (;;) {
    while (next < last && in_flight_ < o_.connect_batch) {
      start_connect(next, sources);
      ++next;
    }
    if (next >= last && in_flight_ == 0) return;
    pump(50);
  }
}

void connection_pool::send_deferred(std::size_t first, std::size_t last) {
  for (std::size_t i = first; i < last; ++i) {
    auto& c = conns_[i];
    if (c.st == state::connected) send_request(i);
  }
}

void connection_pool::pump(int timeout_ms) {
  epoll_event events[1024];
  const int n = epoll_wait(ep_, events, 1024, timeout_ms);
  for (int k = 0; k < n; ++k) {
    const std::size_t i = events[k].data.u32;
    auto& c = conns_[i];
    if (c.st == state::connecting) {
      on_connected(i);
    } else if (c.st == state::waiting) {
      on_readable(i);
    } else if (c.st == state::connected &&
               (events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
      fail(i, "server closed or wrote before the request was sent");
    }
  }
}

void connection_pool::hang_up(std::size_t i) {
  auto& c = conns_[i];
  if (c.st != state::waiting || c.rx_ns != 0) return;  // already answered: not a hang-up
  if (o_.hangup_rst) {
    linger l{1, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  c.fd = -1;
  c.st = state::hung_up;
}

std::size_t connection_pool::count(state s, bool prime) const {
  std::size_t n = 0;
  for (const auto& c : conns_)
    if (c.st == s && c.prime == prime) ++n;
  return n;
}

void connection_pool::fail(std::size_t i, const std::string& why) {
  auto& c = conns_[i];
  if (c.st == state::connecting) --in_flight_;
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }
  c.st = state::failed;
  ++errors_[why];
}

void connection_pool::start_connect(std::size_t i, int sources) {
  auto& c = conns_[i];
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    c.st = state::connecting;
    ++in_flight_;
    fail(i, std::string("socket: ") + std::strerror(errno));
    return;
  }
  c.fd = fd;
  c.st = state::connecting;
  ++in_flight_;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  if (sources > 1) {
    // Pick the port at connect() time, per destination, not at bind() time.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_port = 0;
    src.sin_addr.s_addr = htonl(0x7f000001u + static_cast<std::uint32_t>(i % sources));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      fail(i, std::string("bind: ") + std::strerror(errno));
      return;
    }
  }
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u32 = static_cast<std::uint32_t>(i);
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    fail(i, std::string("epoll_ctl: ") + std::strerror(errno));
    return;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst_), sizeof dst_) != 0 && errno != EINPROGRESS) {
    fail(i, std::string("connect: ") + std::strerror(errno));
  }
}

void connection_pool::on_connected(std::size_t i) {
  auto& c = conns_[i];
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    fail(i, std::string("connect: ") + std::strerror(err));
    return;
  }
  --in_flight_;
  c.st = state::connected;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u32 = static_cast<std::uint32_t>(i);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  if (!c.defer_send) send_request(i);
}

void connection_pool::send_request(std::size_t i) {
  auto& c = conns_[i];
  const std::string bot_prefix = o_.bots > 0 ? "/bots/b" + std::to_string(c.bot) : "";
  std::string req =
      "GET " + bot_prefix + "/?shard=" + std::to_string(c.shard) + " HTTP/1.1\r\nHost: x\r\n";
  if (!o_.auth.empty()) req += "Authorization: Bearer " + o_.auth + "\r\n";
  req += "\r\n";
  const ssize_t w = ::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL);
  if (w != static_cast<ssize_t>(req.size())) {
    c.st = state::waiting;  // so fail() does not touch in_flight_
    fail(i, w < 0 ? std::string("send: ") + std::strerror(errno) : "send: short write");
    return;
  }
  c.sent_ns = steady_ns();
  c.st = state::waiting;
}

void connection_pool::on_readable(std::size_t i) {
  auto& c = conns_[i];
  char buf[4096];
  alignas(cmsghdr) char control[256];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(c.fd, &msg, 0);
  const std::int64_t now = steady_ns();
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    if (c.status == 0 && c.resp.empty()) ++closed_without_response_;
    finish(i, c.resp.empty() ? 0 : c.status, std::string("recv: ") + std::strerror(errno));
    return;
  }
  if (n == 0) {
    if (c.resp.empty()) {
      ++closed_without_response_;
      finish(i, 0, "closed by server without a response");
    } else {
      finish(i, parse_status(c.resp), "");
    }
    return;
  }
  if (c.rx_ns == 0) {
    c.rx_ns = now;
    c.rx_kernel_ns = real_ns();
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(cm), sizeof ts);
        c.rx_kernel_ns = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
      }
    }
  }
  if (c.resp.size() < 8192) c.resp.append(buf, static_cast<std::size_t>(n));
  // Complete when the headers and Content-Length bytes of body are in.
  const auto end = c.resp.find("\r\n\r\n");
  if (end == std::string::npos) return;
  std::size_t body = 0;
  {
    std::string lower = c.resp.substr(0, end);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos)
      body = std::strtoul(lower.c_str() + p + 17, nullptr, 10);
  }
  if (c.resp.size() >= end + 4 + body) finish(i, parse_status(c.resp), "");
}

int connection_pool::parse_status(const std::string& r) {
  if (r.size() < 12 || r.compare(0, 5, "HTTP/") != 0) return -1;
  return std::atoi(r.c_str() + 9);
}

void connection_pool::finish(std::size_t i, int status, const std::string& error) {
  auto& c = conns_[i];
  c.status = static_cast<std::uint16_t>(status < 0 ? 0 : status);
  epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  c.fd = -1;
  if (status > 0) {
    c.st = state::done;
    ++by_status_[status];
    if (status != 200 && error_bodies_.size() < 5) error_bodies_.push_back(c.resp.substr(0, 300));
    if (status != 200) c.rx_ns = 0;  // only grants carry a receive time
  } else {
    c.st = state::failed;
    c.rx_ns = 0;
    ++errors_[error.empty() ? "unparsable response" : error];
  }
  c.resp.clear();
  c.resp.shrink_to_fit();
}

}  // namespace gq::bench
