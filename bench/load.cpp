// bench/load: a single-threaded epoll load client for gateway-queue.
//
// Opens many waiting queue requests (`GET /?shard=S`) on raw non-blocking sockets, records when
// each 200 arrives (steady_clock at read() and the kernel's receive timestamp, SO_TIMESTAMPNS),
// and measures the server from /proc while it holds them. Scenarios and numbers:
// docs/BENCHMARKS.md; driver: bench/run.sh.
//
// Modes:
//   hold   open N waiters against a server with a huge interval (only the first per bucket is
//          granted), then measure the server's RSS, threads and CPU over a window while they
//          wait; optionally hang up a fraction and time how fast /status stops counting them.
//   drain  open N waiters (optionally behind a first "prime" round, one per bucket), wait for
//          every live one to be granted, and compute drain time vs ideal and per-bucket lateness
//          (receive time - (previous receive in that bucket + interval)) from the kernel's
//          receive timestamps (= the server's send() on loopback) and the client's read time.
//          With --db it checks the journal (rows = grants, none for hung-up waiters) and, as
//          released_at is the grant's *due* instant stamped when its permit was committed ahead
//          of time, reports due -> send (how late each 200 left after its due instant) and the
//          spacing of the due instants (a server-side echo of the previous grant's lateness).
//
// Output: a human summary on stderr, one JSON object on stdout.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
      .count();
}
std::int64_t real_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// ---------------------------------------------------------------------------------------------
// Options

struct options {
  std::string mode = "drain";
  std::string url = "127.0.0.1:5000";
  std::string host = "127.0.0.1";
  std::uint16_t port = 5000;
  int server_pid = 0;
  std::size_t waiters = 1000;
  std::uint32_t buckets = 1;
  std::string shards = "rr";  // rr | single | random
  std::int64_t shard_offset = -1;  // -1: buckets when --prime, else 0
  bool prime = false;
  double interval_ms = 5000;
  double hangup_fraction = 0;
  bool hangup_rst = false;
  int sources = 0;  // 0: 4 when more than 10,000 connections, else 1
  std::size_t connect_batch = 256;
  double cpu_window_s = 5;
  double settle_s = 1;
  double timeout_s = 120;
  double queued_timeout_s = 60;
  std::string db;
  std::string auth;
  std::string label;
  double max_after_due_ms = -1;  // drain: a round's last 200 must leave within this of its due
  std::size_t journal_seeded = 0;  // journal rows written before the run (not grants to us)
  std::string grants_csv;  // every connection's times, for a closer look
  bool connect_only = false;  // hold: connect but never send a request (cost of a bare connection)
  std::int64_t due_at_unix_ms = 0;  // drain: every bucket's first grant falls due at this instant
  double max_p99_ms = 1.0;          // drain: flag a p99 lateness above this (negative: never)
};

// ---------------------------------------------------------------------------------------------
// The server's /proc

struct proc_sample {
  long rss_kb = -1;
  long hwm_kb = -1;
  long threads = -1;
  std::uint64_t cpu_ticks = 0;  // utime + stime
  long fds = -1;
  std::map<std::string, int> thread_names;  // /proc/PID/task/*/comm
  std::int64_t at_ns = 0;
  bool ok = false;
};

proc_sample sample_proc(int pid, bool count_fds) {
  proc_sample s;
  s.at_ns = steady_ns();
  if (pid <= 0) return s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    auto value = [&](const char* key) -> std::optional<long> {
      const std::size_t n = std::strlen(key);
      if (line.compare(0, n, key) != 0) return std::nullopt;
      return std::strtol(line.c_str() + n, nullptr, 10);
    };
    if (auto v = value("VmRSS:")) s.rss_kb = *v;
    if (auto v = value("VmHWM:")) s.hwm_kb = *v;
    if (auto v = value("Threads:")) s.threads = *v;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Field 2 (comm) may contain spaces: parse from the last ')'.
  if (auto close = all.rfind(')'); close != std::string::npos) {
    std::istringstream rest(all.substr(close + 2));
    std::vector<std::string> fields;
    std::string f;
    while (rest >> f) fields.push_back(f);
    // rest starts at field 3 (state); utime = field 14, stime = field 15.
    if (fields.size() > 13) {
      s.cpu_ticks = std::stoull(fields[11]) + std::stoull(fields[12]);
      s.ok = s.rss_kb >= 0;
    }
  }
  if (count_fds) {
    long n = 0;
    if (std::FILE* p = popen(("ls /proc/" + std::to_string(pid) + "/fd | wc -l").c_str(), "r")) {
      if (std::fscanf(p, "%ld", &n) != 1) n = -1;
      pclose(p);
    }
    s.fds = n;
    if (std::FILE* p = popen(("cat /proc/" + std::to_string(pid) + "/task/*/comm").c_str(), "r")) {
      char comm[64];
      while (std::fgets(comm, sizeof comm, p)) {
        std::string name(comm);
        while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
        ++s.thread_names[name];
      }
      pclose(p);
    }
  }
  return s;
}

json proc_json(const proc_sample& s) {
  if (!s.ok) return nullptr;
  json j{{"rss_kb", s.rss_kb}, {"hwm_kb", s.hwm_kb}, {"threads", s.threads},
         {"cpu_ticks", s.cpu_ticks}};
  if (s.fds >= 0) j["fds"] = s.fds;
  if (!s.thread_names.empty()) j["thread_names"] = s.thread_names;
  return j;
}

// ---------------------------------------------------------------------------------------------
// Statistics

struct stats {
  std::size_t n = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
  std::size_t negative = 0;
};

stats summarize(std::vector<double> v) {
  stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
  };
  s.min = v.front();
  s.max = v.back();
  s.p50 = pct(0.50);
  s.p90 = pct(0.90);
  s.p99 = pct(0.99);
  s.p999 = pct(0.999);
  double sum = 0;
  for (double x : v) {
    sum += x;
    if (x < 0) ++s.negative;
  }
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

json stats_json(const stats& s) {
  if (s.n == 0) return nullptr;
  auto r = [](double x) { return std::round(x * 1000.0) / 1000.0; };
  return {{"n", s.n},         {"min", r(s.min)},   {"p50", r(s.p50)}, {"p90", r(s.p90)},
          {"p99", r(s.p99)},  {"p999", r(s.p999)}, {"max", r(s.max)}, {"mean", r(s.mean)},
          {"negative", s.negative}};
}

// ---------------------------------------------------------------------------------------------
// Connections

enum class state : std::uint8_t { idle, connecting, connected, waiting, done, hung_up, failed };

struct conn {
  int fd = -1;
  state st = state::idle;
  bool prime = false;
  bool pick_hangup = false;  // chosen to hang up
  bool defer_send = false;   // prime round: send only when the whole round is connected
  std::uint16_t status = 0;
  std::uint32_t bucket = 0;
  std::uint64_t shard = 0;
  std::int64_t sent_ns = 0;        // steady: request written
  std::int64_t rx_ns = 0;          // steady: first response byte read
  std::int64_t rx_kernel_ns = 0;   // realtime: kernel receive timestamp of that byte
  std::string resp;
};

class client {
 public:
  explicit client(const options& o) : o_(o) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    std::memset(&dst_, 0, sizeof dst_);
    dst_.sin_family = AF_INET;
    dst_.sin_port = htons(o.port);
    if (inet_pton(AF_INET, o.host.c_str(), &dst_.sin_addr) != 1)
      throw std::runtime_error("--url: host must be a numeric IPv4 address: " + o.host);
  }
  ~client() {
    for (auto& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    ::close(ep_);
  }

  std::vector<conn> conns_;
  std::map<int, std::size_t> by_status_;
  std::map<std::string, std::size_t> errors_;
  std::vector<std::string> error_bodies_;
  std::size_t closed_without_response_ = 0;

  std::size_t add(std::uint64_t shard, std::uint32_t bucket, bool prime) {
    conn c;
    c.shard = shard;
    c.bucket = bucket;
    c.prime = prime;
    c.defer_send = prime;
    conns_.push_back(std::move(c));
    return conns_.size() - 1;
  }

  // Connects conns [first, last) with at most connect_batch connects outstanding; returns when
  // every one is connected (and its request written, unless deferred) or failed.
  void connect_range(std::size_t first, std::size_t last, int sources) {
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

  void send_deferred(std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      auto& c = conns_[i];
      if (c.st == state::connected) send_request(i);
    }
  }

  // Processes socket events for up to timeout_ms (one epoll_wait).
  void pump(int timeout_ms) {
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

  void hang_up(std::size_t i) {
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

  std::size_t count(state s, bool prime) const {
    std::size_t n = 0;
    for (const auto& c : conns_)
      if (c.st == s && c.prime == prime) ++n;
    return n;
  }
  // Waiters (not prime) still waiting for an answer.
  std::size_t pending_waiters() const { return count(state::waiting, false); }

 private:
  void fail(std::size_t i, const std::string& why) {
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

  void start_connect(std::size_t i, int sources) {
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
    if (::connect(fd, reinterpret_cast<sockaddr*>(&dst_), sizeof dst_) != 0 &&
        errno != EINPROGRESS) {
      fail(i, std::string("connect: ") + std::strerror(errno));
    }
  }

  void on_connected(std::size_t i) {
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

  void send_request(std::size_t i) {
    auto& c = conns_[i];
    std::string req = "GET /?shard=" + std::to_string(c.shard) + " HTTP/1.1\r\nHost: x\r\n";
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

  void on_readable(std::size_t i) {
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

  static int parse_status(const std::string& r) {
    if (r.size() < 12 || r.compare(0, 5, "HTTP/") != 0) return -1;
    return std::atoi(r.c_str() + 9);
  }

  void finish(std::size_t i, int status, const std::string& error) {
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

  const options& o_;
  int ep_ = -1;
  sockaddr_in dst_{};
  std::size_t in_flight_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Control plane (cpp-httplib: /health, /status)

class control {
 public:
  explicit control(const options& o) : o_(o), cli_(o.host, o.port) {
    cli_.set_connection_timeout(2, 0);
    cli_.set_read_timeout(5, 0);
    if (!o.auth.empty()) cli_.set_bearer_token_auth(o.auth.c_str());
  }
  bool healthy() {
    auto r = cli_.Get("/health");
    return r && r->status == 200;
  }
  std::optional<json> status() {
    auto r = cli_.Get("/status");
    if (!r || r->status != 200) return std::nullopt;
    try {
      return json::parse(r->body);
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

// ---------------------------------------------------------------------------------------------

void raise_nofile() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

long nofile_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<long>(rl.rlim_cur);
}

// Hang-up choice: by position k within the bucket's queue, so that every bucket loses the same
// fraction and hung-up waiters alternate with live ones.
bool chosen(std::size_t k, double f) {
  return std::floor(static_cast<double>(k + 1) * f) > std::floor(static_cast<double>(k) * f);
}

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

struct journal_row {
  std::int64_t id, released_at;
  std::optional<std::int64_t> shard;
  std::int64_t bucket, max_concurrency, waited_ms;
};

std::optional<std::vector<journal_row>> read_journal(const std::string& path, std::string& err) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    err = db ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return std::nullopt;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT id, released_at, shard, bucket, max_concurrency, waited_ms FROM releases ORDER BY id";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    err = sqlite3_errmsg(db);
    sqlite3_close(db);
    return std::nullopt;
  }
  std::vector<journal_row> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    journal_row r{};
    r.id = sqlite3_column_int64(st, 0);
    r.released_at = sqlite3_column_int64(st, 1);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) r.shard = sqlite3_column_int64(st, 2);
    r.bucket = sqlite3_column_int64(st, 3);
    r.max_concurrency = sqlite3_column_int64(st, 4);
    r.waited_ms = sqlite3_column_int64(st, 5);
    rows.push_back(r);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"gateway-queue load client (bench/load)"};
  app.add_option("--mode", o.mode, "hold | drain")->check(CLI::IsMember({"hold", "drain"}));
  app.add_option("--url", o.url, "server host:port (numeric IPv4)");
  app.add_option("--server-pid", o.server_pid, "server PID, for /proc measurements");
  app.add_option("-n,--waiters", o.waiters, "waiting connections to open");
  app.add_option("--buckets", o.buckets, "the server's max_concurrency")->check(CLI::Range(1u, 1u << 20));
  app.add_option("--shards", o.shards, "rr (shard i), single (all bucket 0), random")
      ->check(CLI::IsMember({"rr", "single", "random"}));
  app.add_option("--shard-offset", o.shard_offset,
                 "first waiter shard (default: --buckets with --prime, else 0); a multiple of "
                 "--buckets keeps bucket = i % buckets");
  app.add_flag("--prime", o.prime,
               "first send one request per bucket (shards 0..buckets-1) and wait for their "
               "grants, so the waiters queue behind a round that was just granted");
  app.add_option("--interval-ms", o.interval_ms, "the server's QUEUE_IDENTIFY_INTERVAL_MS");
  app.add_option("--hangup-fraction", o.hangup_fraction,
                 "fraction of waiters that hang up once all are connected")
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--hangup-rst", o.hangup_rst, "hang up with RST (SO_LINGER 0) instead of FIN");
  app.add_option("--sources", o.sources, "source addresses 127.0.0.1.. (0: auto)")
      ->check(CLI::Range(0, 4));
  app.add_option("--connect-batch", o.connect_batch, "connects outstanding at once");
  app.add_option("--cpu-window-s", o.cpu_window_s, "hold: CPU measurement window");
  app.add_option("--settle-s", o.settle_s, "hold: pause after all are queued, before measuring");
  app.add_option("--timeout-s", o.timeout_s, "drain: give up after this long");
  app.add_option("--queued-timeout-s", o.queued_timeout_s,
                 "how long to wait for /status to count every waiter");
  app.add_option("--db", o.db, "the server's QUEUE_DB, for journal checks and lateness");
  app.add_option("--auth", o.auth, "QUEUE_AUTH_TOKEN, if the server has one");
  app.add_option("--label", o.label, "scenario name for the JSON line");
  app.add_option("--max-after-due-ms", o.max_after_due_ms,
                 "drain: flag a round (the k-th grant of every bucket) whose last response left "
                 "more than this after the latest due instant in it");
  app.add_option("--journal-seeded", o.journal_seeded,
                 "the first N journal rows were written before this run (a seeded journal): "
                 "not grants to this client, left out of the journal checks");
  app.add_option("--grants-csv", o.grants_csv,
                 "write shard,bucket,prime,status,state,sent_ns,rx_ns,rx_kernel_ns per connection");
  app.add_option("--due-at-unix-ms", o.due_at_unix_ms,
                 "drain: every bucket's first grant falls due at this unix time (a restarted "
                 "server whose journal puts all buckets' last grants at one instant); the first "
                 "round is measured against it");
  app.add_option("--max-p99-ms", o.max_p99_ms,
                 "drain: flag a p99 lateness (kernel timestamps) above this; negative: never");
  app.add_flag("--connect-only", o.connect_only,
               "hold: open the connections but send no request, to tell the cost of a bare "
               "connection from that of a waiter");
  CLI11_PARSE(app, argc, argv);
  if (o.connect_only && o.mode != "hold") {
    std::fprintf(stderr, "load: --connect-only needs --mode hold\n");
    return 2;
  }

  {
    std::string u = o.url;
    if (u.rfind("http://", 0) == 0) u = u.substr(7);
    if (auto slash = u.find('/'); slash != std::string::npos) u = u.substr(0, slash);
    const auto colon = u.rfind(':');
    if (colon == std::string::npos) {
      o.host = u;
    } else {
      o.host = u.substr(0, colon);
      o.port = static_cast<std::uint16_t>(std::stoi(u.substr(colon + 1)));
    }
  }
  if (o.shard_offset < 0) o.shard_offset = o.prime ? o.buckets : 0;
  raise_nofile();
  const std::size_t total_conns = o.waiters + (o.prime ? o.buckets : 0);
  const int sources = o.sources > 0 ? o.sources : (total_conns > 10000 ? 4 : 1);
  const std::int64_t interval_ns = static_cast<std::int64_t>(o.interval_ms * 1e6);

  json out;
  out["label"] = o.label;
  out["mode"] = o.mode;
  out["waiters"] = o.waiters;
  out["buckets"] = o.buckets;
  out["interval_ms"] = o.interval_ms;
  out["shards"] = o.shards;
  out["prime"] = o.prime;
  out["sources"] = sources;
  out["client_nofile"] = nofile_limit();
  std::vector<std::string> problems;

  control ctl(o);
  {
    const auto deadline = steady::now() + std::chrono::seconds(10);
    while (!ctl.healthy()) {
      if (steady::now() > deadline) {
        std::fprintf(stderr, "load: %s does not answer /health\n", o.url.c_str());
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const proc_sample idle = sample_proc(o.server_pid, true);
  out["server_idle"] = proc_json(idle);

  client cl(o);
  // Prime round: shards 0..buckets-1, connected first, then sent together.
  std::int64_t prime_first_ns = 0, prime_last_ns = 0;
  if (o.prime) {
    for (std::uint32_t b = 0; b < o.buckets; ++b) cl.add(b, b, true);
    cl.connect_range(0, o.buckets, sources);
    cl.send_deferred(0, o.buckets);
    const auto deadline = steady_ns() + static_cast<std::int64_t>(30e9);
    while (cl.count(state::waiting, true) > 0 && steady_ns() < deadline) cl.pump(50);
    std::vector<std::int64_t> t;
    for (const auto& c : cl.conns_)
      if (c.prime && c.status == 200) t.push_back(c.rx_kernel_ns);
    if (t.size() != o.buckets)
      problems.push_back("prime round: " + std::to_string(t.size()) + " of " +
                         std::to_string(o.buckets) + " granted");
    if (!t.empty()) {
      prime_first_ns = *std::min_element(t.begin(), t.end());
      prime_last_ns = *std::max_element(t.begin(), t.end());
      out["prime_spread_ms"] = ms(prime_last_ns - prime_first_ns);
    }
  }

  // Waiters.
  const std::size_t first = cl.conns_.size();
  {
    std::mt19937_64 rng(42);
    std::vector<std::size_t> per_bucket(o.buckets, 0);
    for (std::size_t i = 0; i < o.waiters; ++i) {
      std::uint64_t shard = 0;
      const auto off = static_cast<std::uint64_t>(o.shard_offset);
      if (o.shards == "rr")
        shard = off + i;
      else if (o.shards == "single")
        shard = off + i * o.buckets;
      else
        shard = off + i * o.buckets + rng() % o.buckets;
      const auto bucket = static_cast<std::uint32_t>(shard % o.buckets);
      const auto idx = cl.add(shard, bucket, false);
      cl.conns_[idx].pick_hangup = chosen(per_bucket[bucket]++, o.hangup_fraction);
      cl.conns_[idx].defer_send = o.connect_only;
    }
  }
  const std::int64_t connect_start = steady_ns();
  cl.connect_range(first, cl.conns_.size(), sources);
  const std::int64_t all_sent = steady_ns();
  std::size_t connected = 0;
  for (std::size_t i = first; i < cl.conns_.size(); ++i)
    if (cl.conns_[i].sent_ns != 0 || (o.connect_only && cl.conns_[i].st == state::connected))
      ++connected;
  out["connected"] = connected;
  out["connect_only"] = o.connect_only;
  out["connect_s"] = ms(all_sent - connect_start) / 1000.0;
  if (connected != o.waiters)
    problems.push_back("only " + std::to_string(connected) + " of " + std::to_string(o.waiters) +
                       " waiters connected");

  // Until /status counts every waiter still pending (the server has read every request).
  std::optional<double> queued_s;
  std::optional<long long> status_waiting;
  {
    const auto deadline = steady_ns() + static_cast<std::int64_t>(o.queued_timeout_s * 1e9);
    bool have_status = true;
    while (o.connect_only && steady_ns() < deadline) {
      // No requests: wait until the server has accepted them all (its own "connections").
      auto st = ctl.status();
      if (!st || !st->contains("connections") || !(*st)["connections"].is_number()) break;
      if ((*st)["connections"].get<long long>() >= static_cast<long long>(connected)) {
        queued_s = ms(steady_ns() - connect_start) / 1000.0;
        break;
      }
      cl.pump(20);
    }
    while (!o.connect_only && steady_ns() < deadline) {
      cl.pump(0);
      auto w = ctl.waiting();
      if (!w) {
        have_status = false;
        break;
      }
      status_waiting = w;
      if (*w >= static_cast<long long>(cl.pending_waiters())) {
        queued_s = ms(steady_ns() - connect_start) / 1000.0;
        break;
      }
      cl.pump(o.mode == "hold" ? 20 : 2);
    }
    if (o.connect_only) {
    } else if (!have_status) problems.push_back("GET /status has no numeric 'waiting'");
    else if (!queued_s)
      problems.push_back("/status waiting=" + std::to_string(status_waiting.value_or(-1)) +
                         " never reached the client's " + std::to_string(cl.pending_waiters()));
  }
  if (queued_s) out["queued_s"] = *queued_s;

  // Hang-ups: times until /status stops counting them.
  auto do_hangups = [&](json& where) {
    std::size_t hung = 0;
    for (std::size_t i = first; i < cl.conns_.size(); ++i) {
      if (!cl.conns_[i].pick_hangup) continue;
      const auto before = cl.conns_[i].st;
      cl.hang_up(i);
      if (before == state::waiting && cl.conns_[i].st == state::hung_up) ++hung;
    }
    const std::int64_t t0 = steady_ns();
    where["hung_up"] = hung;
    std::optional<double> dropped_ms;
    long long last = -1;
    while (steady_ns() - t0 < static_cast<std::int64_t>(5e9)) {
      cl.pump(0);
      auto w = ctl.waiting();
      if (!w) break;
      last = *w;
      if (*w <= static_cast<long long>(cl.pending_waiters())) {
        dropped_ms = ms(steady_ns() - t0);
        break;
      }
      cl.pump(2);
    }
    where["status_waiting_after"] = last;
    if (dropped_ms) {
      where["all_dropped_ms"] = *dropped_ms;
      if (*dropped_ms > 1000)
        problems.push_back("hang-ups took " + std::to_string(*dropped_ms) + " ms to be dropped");
    } else {
      where["all_dropped_ms"] = nullptr;
      problems.push_back("hang-ups not dropped from /status within 5 s (waiting=" +
                         std::to_string(last) + ", client pending=" +
                         std::to_string(cl.pending_waiters()) + ")");
    }
    return hung;
  };

  std::unordered_set<std::uint64_t> hung_shards;
  auto collect_hung = [&] {
    for (std::size_t i = first; i < cl.conns_.size(); ++i)
      if (cl.conns_[i].st == state::hung_up) hung_shards.insert(cl.conns_[i].shard);
  };

  if (o.mode == "hold") {
    // Settle, then measure while the waiters wait.
    const auto settle_end = steady_ns() + static_cast<std::int64_t>(o.settle_s * 1e9);
    while (steady_ns() < settle_end) cl.pump(100);
    const std::size_t held =
        o.connect_only ? cl.count(state::connected, false) : cl.pending_waiters();
    const proc_sample s1 = sample_proc(o.server_pid, true);
    const auto window_end = steady_ns() + static_cast<std::int64_t>(o.cpu_window_s * 1e9);
    while (steady_ns() < window_end)
      cl.pump(static_cast<int>(std::max<std::int64_t>(1, (window_end - steady_ns()) / 1'000'000)));
    const proc_sample s2 = sample_proc(o.server_pid, false);
    out["held"] = held;
    out["held_after_window"] = cl.pending_waiters();
    out["server_holding"] = proc_json(s1);
    out["server_after_window"] = proc_json(s2);
    if (s1.ok && idle.ok) {
      const long hz = sysconf(_SC_CLK_TCK);
      const double window = static_cast<double>(s2.at_ns - s1.at_ns) / 1e9;
      const double cpu_s = static_cast<double>(s2.cpu_ticks - s1.cpu_ticks) / static_cast<double>(hz);
      const double growth_kib = static_cast<double>(s1.rss_kb - idle.rss_kb);
      out["rss_growth_kib"] = growth_kib;
      out["kib_per_waiter"] = held ? growth_kib / static_cast<double>(held) : 0.0;
      out["cpu_window_s"] = window;
      out["cpu_s"] = cpu_s;
      out["cpu_percent"] = 100.0 * cpu_s / window;
      out["threads"] = s1.threads;
      if (held && growth_kib / static_cast<double>(held) > 1.0)
        problems.push_back("RSS per waiter above 1 KiB");
    }
    if (o.hangup_fraction > 0 && !o.connect_only) {
      json h;
      do_hangups(h);
      const proc_sample s3 = sample_proc(o.server_pid, true);
      h["server_after"] = proc_json(s3);
      out["hangup"] = h;
      collect_hung();
    }
  } else {
    json h;
    if (o.hangup_fraction > 0) {
      do_hangups(h);
      out["hangup"] = h;
      collect_hung();
    }
    const auto deadline = connect_start + static_cast<std::int64_t>(o.timeout_s * 1e9);
    while (cl.pending_waiters() > 0 && steady_ns() < deadline) cl.pump(100);
    if (cl.pending_waiters() > 0)
      problems.push_back(std::to_string(cl.pending_waiters()) + " waiters still pending at timeout");
    const proc_sample s = sample_proc(o.server_pid, false);
    out["server_end"] = proc_json(s);
  }

  // Outcomes.
  {
    json by;
    for (auto& [code, n] : cl.by_status_) by[std::to_string(code)] = n;
    out["responses"] = by;
    json errs = json::object();
    for (auto& [e, n] : cl.errors_) errs[e] = n;
    out["errors"] = errs;
    out["error_bodies"] = cl.error_bodies_;
    out["closed_without_response"] = cl.closed_without_response_;
    std::size_t granted = 0, granted_prime = 0;
    for (const auto& c : cl.conns_)
      if (c.status == 200) (c.prime ? granted_prime : granted)++;
    out["granted_waiters"] = granted;
    out["granted_prime"] = granted_prime;
    for (auto& [code, n] : cl.by_status_)
      if (code != 200) problems.push_back(std::to_string(n) + " responses with status " + std::to_string(code));
  }

  // Lateness and drain (client side).
  std::unordered_map<std::uint64_t, const conn*> by_shard;
  if (o.mode == "drain") {
    std::vector<std::vector<const conn*>> per_bucket(o.buckets);
    for (const auto& c : cl.conns_) {
      if (c.status != 200) continue;
      per_bucket[c.bucket].push_back(&c);
      by_shard[c.shard] = &c;
    }
    std::vector<double> late_client, late_kernel;
    std::size_t starved = 0;
    std::int64_t first_rx = INT64_MAX, last_rx = INT64_MIN;
    std::int64_t first_rx_k = INT64_MAX, last_rx_k = INT64_MIN;
    std::size_t max_granted_in_bucket = 0;
    for (auto& v : per_bucket) {
      std::sort(v.begin(), v.end(), [](const conn* a, const conn* b) { return a->rx_kernel_ns < b->rx_kernel_ns; });
      std::size_t waiters_here = 0;
      for (std::size_t k = 0; k < v.size(); ++k) {
        const conn& c = *v[k];
        if (c.prime) continue;
        ++waiters_here;
        first_rx = std::min(first_rx, c.rx_ns);
        last_rx = std::max(last_rx, c.rx_ns);
        first_rx_k = std::min(first_rx_k, c.rx_kernel_ns);
        last_rx_k = std::max(last_rx_k, c.rx_kernel_ns);
        if (k == 0) {
          // Against the common due instant, if there is one; otherwise nothing to compare with.
          if (o.due_at_unix_ms > 0)
            late_kernel.push_back(ms(c.rx_kernel_ns - o.due_at_unix_ms * 1'000'000));
          continue;
        }
        const conn& p = *v[k - 1];
        // Only a waiter that was already queued when its turn came due measures the pacing.
        if (c.sent_ns > p.rx_ns + interval_ns) {
          ++starved;
          continue;
        }
        late_client.push_back(ms(c.rx_ns - p.rx_ns - interval_ns));
        late_kernel.push_back(ms(c.rx_kernel_ns - p.rx_kernel_ns - interval_ns));
      }
      max_granted_in_bucket = std::max(max_granted_in_bucket, waiters_here);
    }
    // Rounds: the k-th waiter grant of every bucket falls due at about the same time when the
    // buckets were primed together. A round's spread is its last minus its first response; its
    // due spread is the same for the due times (previous response of the bucket + interval), and
    // "after last due" is how long after the last of them fell due the last response left.
    {
      struct round {
        std::int64_t lo = INT64_MAX, hi = INT64_MIN, due_lo = INT64_MAX, due_hi = INT64_MIN;
      };
      std::vector<round> rounds;
      for (auto& v : per_bucket) {
        std::size_t k = 0;
        for (std::size_t x = 0; x < v.size(); ++x) {
          const conn* c = v[x];
          if (c->prime) continue;
          if (rounds.size() <= k) rounds.emplace_back();
          auto& r = rounds[k];
          r.lo = std::min(r.lo, c->rx_kernel_ns);
          r.hi = std::max(r.hi, c->rx_kernel_ns);
          if (x > 0 || o.due_at_unix_ms > 0) {
            const std::int64_t due =
                x > 0 ? v[x - 1]->rx_kernel_ns + interval_ns : o.due_at_unix_ms * 1'000'000;
            r.due_lo = std::min(r.due_lo, due);
            r.due_hi = std::max(r.due_hi, due);
          }
          ++k;
        }
      }
      std::vector<double> spreads, due_spreads, after_due;
      for (const auto& r : rounds) {
        spreads.push_back(ms(r.hi - r.lo));
        if (r.due_lo != INT64_MAX) {
          due_spreads.push_back(ms(r.due_hi - r.due_lo));
          after_due.push_back(ms(r.hi - r.due_hi));
        }
      }
      if (o.buckets > 1 && !spreads.empty()) {
        out["round_spread_ms"] = stats_json(summarize(spreads));
        out["round_due_spread_ms"] = stats_json(summarize(due_spreads));
        out["round_out_after_last_due_ms"] = stats_json(summarize(after_due));
        if (spreads.size() <= 16) {
          out["round_spreads_ms"] = spreads;
          out["round_due_spreads_ms"] = due_spreads;
        }
        if (o.due_at_unix_ms > 0) {
          // The round that fell due at one instant: when its first and last 200 left.
          const auto& r = rounds.front();
          const double last_after = ms(r.hi - o.due_at_unix_ms * 1'000'000);
          out["common_due_round"] = {{"buckets", per_bucket.size()},
                                     {"first_after_due_ms", ms(r.lo - o.due_at_unix_ms * 1'000'000)},
                                     {"last_after_due_ms", last_after}};
        }
        // A round "due together" is judged by when its last 200 left after the latest due
        // instant in it (for the common-due round that instant is --due-at-unix-ms). Its spread
        // (last - first response) also carries the spread of its due instants, which each
        // bucket inherits from its own previous grant: reported, not judged.
        if (o.max_after_due_ms >= 0 && !after_due.empty()) {
          const double worst = *std::max_element(after_due.begin(), after_due.end());
          if (worst > o.max_after_due_ms)
            problems.push_back("a round left its last response " + std::to_string(worst) +
                               " ms after its latest due instant (limit " +
                               std::to_string(o.max_after_due_ms) + ")");
        }
      }
    }
    const stats sc = summarize(late_client), sk = summarize(late_kernel);
    out["lateness_client_ms"] = stats_json(sc);
    out["lateness_kernel_ms"] = stats_json(sk);
    out["starved_excluded"] = starved;
    if (first_rx != INT64_MAX) {
      const double ideal = static_cast<double>(max_granted_in_bucket > 0 ? max_granted_in_bucket - 1 : 0) * o.interval_ms;
      const double drain = ms(last_rx_k - first_rx_k);
      out["drain_ms"] = drain;
      out["drain_client_ms"] = ms(last_rx - first_rx);
      out["ideal_drain_ms"] = ideal;
      if (ideal > 0) {
        out["drain_error_percent"] = 100.0 * (drain - ideal) / ideal;
        if (std::abs(drain - ideal) > 0.01 * ideal) problems.push_back("drain time off ideal by more than 1 %");
      }
      if (o.prime) out["first_after_prime_ms"] = ms(first_rx_k - prime_first_ns);
    }
    if (sk.n && sk.min < 0) problems.push_back("a grant arrived early (kernel timestamps)");
    // Client read times are not a pacing check: when the client's loop is late reading one
    // response (a round of 256 arriving together, or the client descheduled), the next gap in
    // that bucket looks short. Reported ("negative" in lateness_client_ms), not a problem.
    if (sk.n && o.max_p99_ms >= 0 && sk.p99 > o.max_p99_ms)
      problems.push_back("p99 lateness above " + std::to_string(o.max_p99_ms) +
                         " ms (kernel timestamps)");
  }

  // Journal.
  if (!o.db.empty()) {
    std::string err;
    auto rows = read_journal(o.db, err);
    if (rows) rows->erase(rows->begin(), rows->begin() + std::min(o.journal_seeded, rows->size()));
    json j;
    if (!rows) {
      j["error"] = err;
      problems.push_back("journal: " + err);
    } else {
      std::size_t granted_all = 0;
      for (const auto& c : cl.conns_)
        if (c.status == 200) ++granted_all;
      j["rows"] = rows->size();
      j["client_grants"] = granted_all;
      std::size_t hung_rows = 0;
      for (const auto& r : *rows)
        if (r.shard && hung_shards.count(static_cast<std::uint64_t>(*r.shard))) ++hung_rows;
      j["rows_of_hung_up_waiters"] = hung_rows;
      if (rows->size() != granted_all)
        problems.push_back("journal rows (" + std::to_string(rows->size()) +
                           ") != grants received (" + std::to_string(granted_all) + ")");
      if (hung_rows) problems.push_back(std::to_string(hung_rows) + " journal rows for hung-up waiters");
      if (o.mode == "drain") {
        std::map<std::int64_t, std::vector<const journal_row*>> per_bucket;
        for (const auto& r : *rows) per_bucket[r.bucket].push_back(&r);
        std::vector<double> late, to_client, to_client_prime;
        std::int64_t first_at = INT64_MAX, last_at = INT64_MIN;
        for (auto& [b, v] : per_bucket) {
          for (std::size_t k = 0; k < v.size(); ++k) {
            const journal_row& r = *v[k];
            const conn* c = nullptr;
            if (r.shard) {
              auto it = by_shard.find(static_cast<std::uint64_t>(*r.shard));
              if (it != by_shard.end()) c = it->second;
            }
            // released_at is whole ms (the due instant, or the commit time if that was later):
            // due -> send carries up to +1 ms of rounding.
            if (c) (c->prime ? to_client_prime : to_client).push_back(ms(c->rx_kernel_ns - r.released_at * 1'000'000));
            const bool waiter = c && !c->prime;
            if (waiter) {
              first_at = std::min(first_at, r.released_at);
              last_at = std::max(last_at, r.released_at);
            }
            if (k == 0 || !waiter) continue;
            if (c->sent_ns > 0) {
              // Same exclusion as the client side: queued only after its turn came due.
              const conn* p = nullptr;
              if (v[k - 1]->shard) {
                auto it = by_shard.find(static_cast<std::uint64_t>(*v[k - 1]->shard));
                if (it != by_shard.end()) p = it->second;
              }
              if (p && c->sent_ns > p->rx_ns + interval_ns) continue;
            }
            late.push_back(static_cast<double>(r.released_at - v[k - 1]->released_at) - o.interval_ms);
          }
        }
        const stats sj = summarize(late);
        // released_at - (previous released_at of the bucket + interval). Since released_at is
        // the due instant (stamped ahead), this is not when the grant left: it is how late the
        // server saw the previous grant's write acknowledged (the next due is that + interval),
        // in whole ms. Below 0 would mean due instants closer than the interval: a pacing bug.
        j["due_spacing_excess_ms"] = stats_json(sj);
        // Kernel send time (client receive timestamp) - released_at: how late each 200 left
        // after its due instant, per grant (not accumulated). Waiters only; the prime round's
        // released_at is its commit time.
        j["due_to_send_ms"] = stats_json(summarize(to_client));
        j["prime_released_at_to_send_ms"] = stats_json(summarize(to_client_prime));
        if (first_at != INT64_MAX) j["drain_ms"] = last_at - first_at;
        if (sj.n && sj.min < 0) problems.push_back("journal: due instants closer than the interval");
      }
    }
    out["journal"] = j;
  }

  if (!o.grants_csv.empty()) {
    std::ofstream csv(o.grants_csv);
    csv << "shard,bucket,prime,status,state,sent_ns,rx_ns,rx_kernel_ns\n";
    for (const auto& c : cl.conns_)
      csv << c.shard << ',' << c.bucket << ',' << int(c.prime) << ',' << c.status << ','
          << int(c.st) << ',' << c.sent_ns << ',' << c.rx_ns << ',' << c.rx_kernel_ns << '\n';
  }
  out["problems"] = problems;
  out["ok"] = problems.empty();

  // Human summary.
  auto& e = std::cerr;
  e << "== load " << o.mode << (o.label.empty() ? "" : " [" + o.label + "]") << ": " << o.waiters
    << " waiters, " << o.buckets << " buckets, interval " << o.interval_ms << " ms, sources "
    << sources << "\n";
  e << "   connected " << connected << " in " << out["connect_s"].get<double>() << " s";
  if (queued_s) e << ", all queued at " << *queued_s << " s";
  e << "\n";
  if (o.prime && out.contains("prime_spread_ms"))
    e << "   prime round spread " << out["prime_spread_ms"].get<double>() << " ms\n";
  if (o.mode == "hold" && out.contains("kib_per_waiter")) {
    e << "   server idle RSS " << idle.rss_kb << " KiB; holding " << out["held"].get<std::size_t>()
      << ": RSS " << out["server_holding"]["rss_kb"].get<long>() << " KiB -> "
      << out["kib_per_waiter"].get<double>() << " KiB/waiter; threads "
      << out["threads"].get<long>() << "; CPU " << out["cpu_s"].get<double>() << " s over "
      << out["cpu_window_s"].get<double>() << " s (" << out["cpu_percent"].get<double>() << " %)\n";
  }
  if (out.contains("hangup")) {
    const auto& h = out["hangup"];
    e << "   hung up " << h["hung_up"].get<std::size_t>() << "; /status dropped them in "
      << (h["all_dropped_ms"].is_null() ? std::string("NEVER") : std::to_string(h["all_dropped_ms"].get<double>()) + " ms")
      << "\n";
  }
  if (o.mode == "drain") {
    e << "   granted " << out["granted_waiters"].get<std::size_t>() << " waiters";
    if (out.contains("drain_ms"))
      e << "; drain " << out["drain_ms"].get<double>() << " ms vs ideal "
        << out["ideal_drain_ms"].get<double>() << " ms";
    if (out.contains("drain_error_percent"))
      e << " (" << out["drain_error_percent"].get<double>() << " %)";
    e << "\n";
    e << "   lateness (kernel rx)  " << (out["lateness_kernel_ms"].is_null() ? "(none)" : out["lateness_kernel_ms"].dump()) << "\n";
    e << "   lateness (client rx)  " << (out["lateness_client_ms"].is_null() ? "(none)" : out["lateness_client_ms"].dump()) << "\n";
    if (out.contains("round_spread_ms"))
      e << "   round spread (k-th grant of every bucket) " << out["round_spread_ms"].dump()
        << "\n   round due spread " << out["round_due_spread_ms"].dump()
        << "\n   round: last out after last due " << out["round_out_after_last_due_ms"].dump() << "\n";
    if (out.contains("common_due_round"))
      e << "   round due together at " << o.due_at_unix_ms << ": first 200 "
        << out["common_due_round"]["first_after_due_ms"].get<double>() << " ms, last "
        << out["common_due_round"]["last_after_due_ms"].get<double>() << " ms after it\n";
    e << "   excluded (queued after due): " << out["starved_excluded"].get<std::size_t>() << "\n";
  }
  if (out.contains("journal")) {
    const auto& j = out["journal"];
    e << "   journal rows " << j.value("rows", json()).dump() << " = grants " << j.value("client_grants", json()).dump()
      << ", rows of hung-up waiters " << j.value("rows_of_hung_up_waiters", json()).dump() << "\n";
    if (j.contains("due_to_send_ms"))
      e << "   journal due -> kernel send (per grant)  " << j["due_to_send_ms"].dump()
        << "\n   journal due spacing - interval          " << j["due_spacing_excess_ms"].dump() << "\n";
    if (j.contains("error")) e << "   journal error " << j["error"].dump() << "\n";
  }
  e << "   responses " << out["responses"].dump() << " errors " << out["errors"].dump() << "\n";
  if (problems.empty()) e << "   OK\n";
  for (const auto& p : problems) e << "   PROBLEM: " << p << "\n";

  std::cout << out.dump() << std::endl;
  return problems.empty() ? 0 : 3;
}
