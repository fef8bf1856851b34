#pragma once
// The waiting queue requests of bench/load: raw non-blocking sockets on one epoll, each request
// `GET /?shard=S` with the time it was written, the time its response's first byte was read
// (steady_clock) and the kernel's receive timestamp of that byte (SO_TIMESTAMPNS, realtime).
// Single-threaded: every method runs on the caller's thread.

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "load/options.hpp"

namespace gq::bench {

enum class state : std::uint8_t { idle, connecting, connected, waiting, done, hung_up, failed };

struct conn {
  int fd = -1;
  state st = state::idle;
  bool prime = false;
  bool pick_hangup = false;  // chosen to hang up
  bool defer_send = false;   // prime round: send only when the whole round is connected
  std::uint16_t status = 0;
  std::uint32_t bucket = 0;  // the lane (options.hpp): bot x buckets + the bot's bucket
  std::uint32_t bot = 0;     // --bots: the request goes to /bots/b<bot>/
  std::uint64_t shard = 0;
  std::int64_t sent_ns = 0;       // steady: request written
  std::int64_t rx_ns = 0;         // steady: first response byte read
  std::int64_t rx_kernel_ns = 0;  // realtime: kernel receive timestamp of that byte
  std::string resp;
};

// The connections, in the order they were added (index = position in conns_).
class connection_pool {
 public:
  // Throws std::runtime_error when epoll cannot be created or the host is not numeric IPv4.
  explicit connection_pool(const options& o);
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  std::vector<conn> conns_;
  std::map<int, std::size_t> by_status_;
  std::map<std::string, std::size_t> errors_;
  std::vector<std::string> error_bodies_;
  std::size_t closed_without_response_ = 0;

  std::size_t add(std::uint64_t shard, std::uint32_t lane, bool prime, std::uint32_t bot = 0);

  // Connects conns [first, last) with at most connect_batch connects outstanding; returns when
  // every one is connected (and its request written, unless deferred) or failed.
  void connect_range(std::size_t first, std::size_t last, int sources);

  void send_deferred(std::size_t first, std::size_t last);

  // Processes socket events for up to timeout_ms (one epoll_wait).
  void pump(int timeout_ms);

  void hang_up(std::size_t i);

  std::size_t count(state s, bool prime) const;
  // Waiters (not prime) still waiting for an answer.
  std::size_t pending_waiters() const { return count(state::waiting, false); }

 private:
  void fail(std::size_t i, const std::string& why);

  void start_connect(std::size_t i, int sources);

  void on_connected(std::size_t i);

  void send_request(std::size_t i);

  void on_readable(std::size_t i);

  static int parse_status(const std::string& r);

  void finish(std::size_t i, int status, const std::string& error);

  const options& o_;
  int ep_ = -1;
  sockaddr_in dst_{};
  std::size_t in_flight_ = 0;
};

}  // namespace gq::bench
