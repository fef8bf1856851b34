#pragma once
// Clients for the integration tests: cpp-httplib for plain request/answer checks, raw POSIX
// sockets where the test needs control of the byte stream (hang-ups, pipelining, HTTP/1.0,
// oversized requests) or the client-side time an answer arrived.
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
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "integration/server_process.hpp"

namespace gq::integration {

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

// ---------------------------------------------------------------------------------------------
// Raw sockets.

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
