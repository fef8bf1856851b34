#pragma once
// The few Linux calls the HTTP edge makes itself, beside CAF's multiplexer, to put a grant on the
// wire at its due instant: a precise sleep and a direct send() on the connection's socket.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gq {

// True when `fd` is a TCP socket connected to a peer on `peer_port`.
bool is_socket_with_peer_port(int fd, std::uint16_t peer_port);

// Writes what the socket takes at once, without blocking or SIGPIPE: the byte count, 0 when it
// would block or the connection is broken.
std::size_t send_now(int fd, std::string_view bytes);

// Sleeps the calling thread until `t` (CAF's actor clock is steady_clock: CLOCK_MONOTONIC) with
// a timer slack of 1 ns, so that it wakes at `t`, not up to 50 us later (Linux's default slack).
void sleep_until(std::chrono::steady_clock::time_point t);

}  // namespace gq
