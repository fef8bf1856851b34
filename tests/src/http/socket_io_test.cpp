// The Linux calls the edge makes beside CAF: a sleep that never wakes early, a send that never
// blocks or raises SIGPIPE, and the check that a connection handle is its socket.
#include "src/http/socket_io.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace gq {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

TEST(sleep_until, never_wakes_before_the_instant) {
  for (int i = 0; i < 20; ++i) {
    const auto target = steady::now() + std::chrono::microseconds{300 + 97 * i};
    sleep_until(target);
    EXPECT_GE(steady::now(), target) << "iteration " << i;
  }
}

// A sleep computed from the distance to a past instant would last that distance (or, unsigned,
// for ever): the instant is far enough back that no scheduling delay comes near it.
TEST(sleep_until, an_instant_in_the_past_returns_at_once) {
  const auto start = steady::now();
  sleep_until(start - 10s);
  EXPECT_LT(steady::now() - start, 10s) << "slept for the distance to the past instant";
}

TEST(send_now, writes_what_the_socket_takes_and_never_blocks) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  fd_guard a{pair[0]}, b{pair[1]};
  EXPECT_EQ(send_now(a.fd, "hello"), 5u);
  char buffer[8] = {};
  ASSERT_EQ(::read(b.fd, buffer, sizeof buffer), 5);
  EXPECT_EQ(std::string(buffer, 5), "hello");

  // Nobody reads: the socket fills up, and a send that would block takes nothing.
  const std::string chunk(64 * 1024, 'x');
  std::size_t taken = 0;
  for (int i = 0; i < 1000 && (taken = send_now(a.fd, chunk)) > 0; ++i) {
  }
  EXPECT_EQ(taken, 0u);
}

TEST(send_now, a_broken_connection_takes_nothing_and_raises_no_sigpipe) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  fd_guard a{pair[0]};
  ::close(pair[1]);
  EXPECT_EQ(send_now(a.fd, "hello"), 0u);  // EPIPE; the test process is still alive
  EXPECT_EQ(send_now(-1, "hello"), 0u);
}

TEST(is_socket_with_peer_port, knows_a_tcp_connection_by_its_peer_port) {
  fd_guard listener{::socket(AF_INET, SOCK_STREAM, 0)};
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener.fd, 1), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  fd_guard client{::socket(AF_INET, SOCK_STREAM, 0)};
  ASSERT_EQ(::connect(client.fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  fd_guard accepted{::accept(listener.fd, nullptr, nullptr)};
  ASSERT_GE(accepted.fd, 0);
  sockaddr_in client_address{};
  length = sizeof client_address;
  ASSERT_EQ(::getsockname(client.fd, reinterpret_cast<sockaddr*>(&client_address), &length), 0);

  const auto client_port = ntohs(client_address.sin_port);
  EXPECT_TRUE(is_socket_with_peer_port(accepted.fd, client_port));
  EXPECT_FALSE(is_socket_with_peer_port(accepted.fd, static_cast<std::uint16_t>(client_port + 1)));
  EXPECT_FALSE(is_socket_with_peer_port(listener.fd, client_port)) << "not connected";
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  fd_guard r{pipe_fds[0]}, w{pipe_fds[1]};
  EXPECT_FALSE(is_socket_with_peer_port(r.fd, client_port));
  EXPECT_FALSE(is_socket_with_peer_port(-1, client_port));
}

}  // namespace
}  // namespace gq
