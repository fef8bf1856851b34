// Well-behaved shards keep their grants, on time and in order, while other clients on the same
// loopback attack the queue: slowloris connections up to the server's file limit, garbage and
// oversized requests, and connections opened and closed as fast as possible
// (tests/support/attackers.hpp). Throughout, every waiting shard is granted, none earlier than
// the interval after the previous grant of its bucket (kernel receive timestamps), and a new
// client gets /health answered within 1 s. How late grants are under attack is measured in
// bench/ (bench/run.sh attack), not asserted here.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "integration/clients.hpp"
#include "integration/server_process.hpp"
#include "support/attackers.hpp"

namespace gq::integration {
namespace {

constexpr int k_shards = 1000;
constexpr int k_buckets = 16;
constexpr auto k_interval = 200ms;
constexpr unsigned k_server_files = 2048;
// Kernel receive stamps on loopback are taken when the segment is handed to the loopback device.
// With the machine saturated by the attack, the kernel may hand over a segment after the server's
// send() returned (TCP small queues, softirq work deferred to ksoftirqd), and the server times its
// interval from that return. Seen: up to 40 us on a 2-core VM with both cores busy, 3.5 ms once
// on a CI machine (one gap of 196.5 ms). A gap shorter than the interval by more than this is a
// pacing error. Without an attack, edge_test, discord_test and crash_test check the interval with
// no tolerance; under attack this test catches pacing from the wrong instant (the decision, the
// due time, an unconfirmed write), which is off by the grant's lateness: several ms for some of
// these 1,000 grants.
constexpr auto k_stamp_jitter = 5ms;

// One waiting request per shard, all on one thread: sockets polled together, each answer's
// status and the kernel's receive time of its first byte (SO_TIMESTAMPNS; on loopback, the
// server's send()).
class shard_swarm {
 public:
  struct shard_result {
    int fd = -1;
    bool sent = false;  // connected and the request written
    int status = 0;
    std::chrono::nanoseconds received{};  // kernel stamp, unix epoch
  };

  shard_swarm(std::uint16_t port, int shards) : results_(static_cast<std::size_t>(shards)) {
    for (int shard = 0; shard < shards; ++shard) {
      auto& r = results_[static_cast<std::size_t>(shard)];
      // Non-blocking: a server that stopped accepting must fail the test, not hang it.
      r.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(port);
      const int one = 1;
      ::setsockopt(r.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
      ::setsockopt(r.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      requests_.push_back(
          request_text("/?shard=" + std::to_string(shard), "Connection: close\r\n"));
      if (::connect(r.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
          errno != EINPROGRESS)
        r.status = -1;  // could not even connect
    }
  }
  ~shard_swarm() {
    for (auto& r : results_)
      if (r.fd >= 0) ::close(r.fd);
  }

  // Collects answers until every shard has one or `timeout` passes; true when all came.
  bool wait_all(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<pollfd> entries;
      std::vector<shard_result*> owners;
      for (auto& r : results_) {
        if (r.status != 0) continue;
        entries.push_back({r.fd, static_cast<short>(r.sent ? POLLIN : POLLOUT), 0});
        owners.push_back(&r);
      }
      if (entries.empty()) return true;
      if (::poll(entries.data(), entries.size(), 50) <= 0) continue;
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (!entries[i].revents) continue;
        auto& r = *owners[i];
        if (r.sent) {
          read_answer(r);
          continue;
        }
        const auto& request = requests_[static_cast<std::size_t>(&r - results_.data())];
        r.sent = ::send(r.fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                 static_cast<ssize_t>(request.size());
        if (!r.sent) r.status = -1;  // refused (a connection that never completed)
      }
    }
    return false;
  }

  const std::vector<shard_result>& results() const { return results_; }

 private:
  static void read_answer(shard_result& r) {
    char data[512];
    iovec part{data, sizeof data};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const auto n = ::recvmsg(r.fd, &message, 0);
    if (n < 12) {
      r.status = -2;  // closed (or a fragment too short to read a status from)
      return;
    }
    r.status = std::atoi(std::string(data + 9, 3).c_str());
    for (auto* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec stamp{};
        std::memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
        r.received = std::chrono::seconds(stamp.tv_sec) + std::chrono::nanoseconds(stamp.tv_nsec);
      }
    }
  }

  std::vector<shard_result> results_;
  std::vector<std::string> requests_;
};

// This process holds ~1,000 shard and ~2,000 attacker sockets: more than a default soft limit.
void raise_own_file_limit() {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

TEST(attack, shards_are_granted_in_time_and_the_server_accepts_while_it_is_attacked) {
  raise_own_file_limit();
  server_process server({{"QUEUE_MAX_CONCURRENCY", std::to_string(k_buckets)},
                         {"QUEUE_IDENTIFY_INTERVAL_MS", "200"},
                         {"QUEUE_DAILY_LIMIT", "1000000"},
                         {"QUEUE_LOG_LEVEL", "warn"}});
  server.limit_open_files(k_server_files);
  ASSERT_TRUE(server.start());

  testing::attack attackers({.port = server.port(), .slowloris_connections = k_server_files});
  attackers.start();
  std::this_thread::sleep_for(2s);  // let the attack reach the connection cap first

  shard_swarm shards(server.port(), k_shards);
  // (ceil(1000 / 16) - 1) x 200 ms = 12.4 s of pacing, plus slack for a loaded machine.
  const bool all_answered = shards.wait_all(25s);
  attackers.stop();
  const auto& report = attackers.report();

  std::map<int, std::vector<std::chrono::nanoseconds>> grants_by_bucket;
  int granted = 0;
  for (int shard = 0; shard < k_shards; ++shard) {
    const auto& r = shards.results()[static_cast<std::size_t>(shard)];
    EXPECT_EQ(r.status, 200) << "shard " << shard;
    if (r.status != 200) continue;
    ++granted;
    grants_by_bucket[shard % k_buckets].push_back(r.received);
  }
  EXPECT_TRUE(all_answered) << granted << " of " << k_shards << " granted\n"
                            << server.output().substr(0, 4000);
  EXPECT_EQ(granted, k_shards);
  int early = 0;
  for (auto& [bucket, times] : grants_by_bucket) {
    std::sort(times.begin(), times.end());
    for (std::size_t i = 1; i < times.size(); ++i) {
      if (times[i] - times[i - 1] < k_interval - k_stamp_jitter) {
        ++early;
        // The neighbouring gaps tell a late stamp (the gap before is as much longer) from an
        // early grant (the gap after is as much longer: the next grant is timed from it).
        const auto ms = [&](std::size_t j) {
          return j == 0 || j >= times.size()
                     ? std::string("-")
                     : std::to_string(
                           std::chrono::duration<double, std::milli>(times[j] - times[j - 1])
                               .count());
        };
        ADD_FAILURE() << "bucket " << bucket << ": grants " << ms(i)
                      << " ms apart (gap before: " << ms(i - 1) << " ms, after: " << ms(i + 1)
                      << " ms)";
      }
    }
  }
  EXPECT_EQ(early, 0);
  std::chrono::nanoseconds min_gap = 24h;
  for (auto& [bucket, times] : grants_by_bucket)
    for (std::size_t i = 1; i < times.size(); ++i)
      min_gap = std::min(min_gap, times[i] - times[i - 1]);
  RecordProperty("min_gap_us", std::to_string(min_gap.count() / 1000));

  // The attack did reach the server, and a real client always got in.
  EXPECT_GT(report.slowloris_opened, k_server_files / 2);
  EXPECT_GT(report.slowloris_closed_by_server, 0u) << "no slowloris connection was evicted";
  EXPECT_GT(report.garbage_answered, 0u);
  EXPECT_GT(report.churn_connections, 100u);
  const double slowest_probe =
      report.probe_ms.empty() ? 0.0
                              : *std::max_element(report.probe_ms.begin(), report.probe_ms.end());
  EXPECT_EQ(report.probe_failures, 0u)
      << report.probe_failures << " of " << report.probe_failures + report.probe_ms.size()
      << " new clients waited over 1 s for /health; slowest answered: " << slowest_probe << " ms";
  EXPECT_GT(report.probe_ms.size(), 10u);
  EXPECT_TRUE(server.alive()) << server.output().substr(0, 4000);
}

}  // namespace
}  // namespace gq::integration
