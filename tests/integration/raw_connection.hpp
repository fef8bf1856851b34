#pragma once
// A raw TCP client for the integration tests, for when a test needs control of the byte stream
// (hang-ups, pipelining, HTTP/1.0, oversized or malformed requests) or the time an answer arrived.
//
// Two times per answer, both on std::chrono::steady_clock: `first_byte_at`, when the client
// read the first byte (what a bot sees, its own scheduling delays included), and `arrived_at`,
// when the kernel received that byte (SO_TIMESTAMPNS). On loopback the kernel stamps a segment
// as the server's send() enqueues it, so the spacing of `arrived_at` is the spacing of the
// server's writes, free of the client threads' scheduling: pacing assertions use it. The stamp is
// wall-clock time; it is moved onto steady_clock by the offset between the two clocks read right
// after recv(), so NTP slewing between two answers cannot shift their spacing.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace gq::integration {

using namespace std::chrono_literals;
using steady_time = std::chrono::steady_clock::time_point;
using kernel_time = std::chrono::nanoseconds;  // since the unix epoch, from SO_TIMESTAMPNS

inline long long ms_between(steady_time from, steady_time to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}
inline double ms_between_exact(steady_time from, steady_time to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}
inline std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "GET <target> HTTP/1.1" with a Host header and `extra` header lines (each ending in \r\n).
inline std::string request_text(const std::string& target, const std::string& extra = "",
                                const std::string& version = "HTTP/1.1") {
  return "GET " + target + " " + version + "\r\nHost: gateway-queue\r\n" + extra + "\r\n";
}

struct raw_response {
  int status = 0;
  std::string status_line;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  steady_time first_byte_at{};  // when the first byte of this answer was read
  steady_time arrived_at{};     // when the kernel received that byte
  kernel_time arrived_unix{};   // the same, as the kernel's wall-clock stamp

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string{} : it->second;
  }
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// One TCP connection to 127.0.0.1:port. Answers are read with a timeout; bytes that arrive
// beyond one answer are kept for the next (pipelining).
class raw_connection {
 public:
  explicit raw_connection(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
  }
  ~raw_connection() { close(); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  bool connected() const { return fd_ >= 0; }

  // Writes all of `bytes` in as few send() calls as the kernel allows (one, for small requests).
  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Reads one whole answer (status line, headers, Content-Length body). nullopt when the
  // connection ends or `timeout` passes first; peer_closed() tells which.
  std::optional<raw_response> read_response(std::chrono::milliseconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    raw_response response;
    bool timed = false;
    if (!buffer_.empty()) {
      response.first_byte_at = buffer_at_;
      response.arrived_at = buffer_arrived_at_;
      response.arrived_unix = buffer_kernel_at_;
      timed = true;
    }
    std::size_t header_end = std::string::npos;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return std::nullopt;
      if (!timed) {
        response.first_byte_at = buffer_at_;
        response.arrived_at = buffer_arrived_at_;
        response.arrived_unix = buffer_kernel_at_;
        timed = true;
      }
    }
    parse_head(buffer_.substr(0, header_end), response);
    buffer_.erase(0, header_end + 4);
    const std::string length_text = response.header("content-length");
    if (length_text.empty()) {  // not allowed by the contract; read to the end
      while (fill(deadline)) {
      }
      response.body = std::move(buffer_);
      buffer_.clear();
      return response;
    }
    const std::size_t length = std::stoul(length_text);
    while (buffer_.size() < length) {
      if (!fill(deadline)) return std::nullopt;
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }

  // True when the server ends the connection (EOF or reset) within `timeout`; bytes that
  // arrive meanwhile are kept (extra_bytes()).
  bool wait_closed(std::chrono::milliseconds timeout = 2s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) {
    }
    return peer_closed_;
  }

  // True when nothing arrives and the connection stays open for `duration`.
  bool stays_silent(std::chrono::milliseconds duration) {
    const auto deadline = std::chrono::steady_clock::now() + duration;
    const std::size_t before = buffer_.size();
    while (fill(deadline)) {
    }
    return !peer_closed_ && buffer_.size() == before;
  }

  const std::string& extra_bytes() const { return buffer_; }
  bool peer_closed() const { return peer_closed_; }

  // A hang-up as a client does it: FIN, and the socket is gone. Safe while another thread is
  // blocked in read_response() (shutdown wakes it; the descriptor is closed by the owner later).
  void hang_up() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  // One recv() into the buffer; false on EOF, error or deadline.
  bool fill(steady_time deadline) {
    if (fd_ < 0 || peer_closed_) return false;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd entry{fd_, POLLIN, 0};
      const int ready = ::poll(&entry, 1, static_cast<int>(left.count()) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) return false;
      char chunk[16384];
      iovec data{chunk, sizeof(chunk)};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
      msghdr message{};
      message.msg_iov = &data;
      message.msg_iovlen = 1;
      message.msg_control = control;
      message.msg_controllen = sizeof(control);
      const ssize_t got = ::recvmsg(fd_, &message, 0);
      const auto now = std::chrono::steady_clock::now();
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        peer_closed_ = true;
        return false;
      }
      if (buffer_.empty()) {
        const auto wall_now = std::chrono::system_clock::now().time_since_epoch();
        buffer_at_ = now;
        buffer_kernel_at_ = kernel_timestamp(message);
        buffer_arrived_at_ = std::min(
            now, now - std::chrono::duration_cast<steady_time::duration>(
                           std::chrono::duration_cast<kernel_time>(wall_now) - buffer_kernel_at_));
      }
      buffer_.append(chunk, static_cast<std::size_t>(got));
      return true;
    }
  }

  // The SO_TIMESTAMPNS of a received message; the wall clock now if the kernel gave none.
  static kernel_time kernel_timestamp(msghdr& message) {
    for (cmsghdr* entry = CMSG_FIRSTHDR(&message); entry != nullptr;
         entry = CMSG_NXTHDR(&message, entry)) {
      if (entry->cmsg_level == SOL_SOCKET && entry->cmsg_type == SCM_TIMESTAMPNS) {
        timespec stamp{};
        std::memcpy(&stamp, CMSG_DATA(entry), sizeof(stamp));
        return std::chrono::seconds(stamp.tv_sec) + std::chrono::nanoseconds(stamp.tv_nsec);
      }
    }
    return std::chrono::duration_cast<kernel_time>(
        std::chrono::system_clock::now().time_since_epoch());
  }

  static void parse_head(const std::string& head, raw_response& response) {
    std::size_t line_end = head.find("\r\n");
    response.status_line = head.substr(0, line_end);
    const std::size_t space = response.status_line.find(' ');
    if (space != std::string::npos) {
      response.status = std::atoi(response.status_line.c_str() + space + 1);
    }
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line =
          head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t") + 1);
      response.headers[lower(line.substr(0, colon))] = value;
    }
  }

  int fd_ = -1;
  std::string buffer_;
  steady_time buffer_at_{};          // when the oldest byte in buffer_ was read
  kernel_time buffer_kernel_at_{};   // when the kernel received it (wall clock)
  steady_time buffer_arrived_at_{};  // the same on steady_clock
  bool peer_closed_ = false;
};

}  // namespace gq::integration
