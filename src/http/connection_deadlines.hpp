#pragma once
// Deadlines of the HTTP edge's connections that hold no waiting request, for the two timeouts
// and for eviction at the connection cap (docs/HTTP_API.md, "Connections").
//
// A connection is in at most one of two lists, each in the order its connections entered it:
// - reading: a request has begun (or the connection is new) and must arrive whole within
//   request_timeout of the moment it entered;
// - idle: a keep-alive connection between requests, closed after idle_timeout.
// Both timeouts are the same for every member of a list, so each list is also in deadline order:
// expiry pops from the front, and a 1 s sweep costs only the connections it closes. A connection
// that is being answered (a waiter, or /status in progress) is in neither list: it has no
// deadline, and it is never evicted.
//
// The links live inside the edge's per-connection struct (32 bytes), so that entering or leaving a
// list never allocates. Plain C++, unit-tested with a fake clock.

#include <cassert>
#include <chrono>
#include <cstdint>

namespace gq {

// The defaults of QUEUE_REQUEST_TIMEOUT_S and QUEUE_IDLE_TIMEOUT_S (docs/CONFIGURATION.md says
// why these values).
inline constexpr std::chrono::seconds k_default_request_timeout{10};
inline constexpr std::chrono::seconds k_default_idle_timeout{60};

enum class deadline_kind : std::uint8_t {
  none,     // in no list: being answered, or waiting for its grant
  fresh,    // reading list: connected, not a byte of a request yet
  reading,  // reading list: part of a request has arrived
  idle,     // idle list: keep-alive, between requests
};

// One connection's membership. Not copyable or movable: the lists point at it (the edge keeps
// connections in an unordered_map, whose elements never move). Contract: a link is taken out of
// its list (set to none) before it is destroyed.
struct deadline_link {
  using time_point = std::chrono::steady_clock::time_point;

  deadline_link() = default;
  deadline_link(const deadline_link&) = delete;
  deadline_link& operator=(const deadline_link&) = delete;

  deadline_kind kind() const { return kind_; }
  // When it entered its list (meaningless while kind() is none).
  time_point since() const { return since_; }

 private:
  friend class connection_deadlines;
  deadline_link* prev_ = nullptr;
  deadline_link* next_ = nullptr;
  time_point since_{};
  deadline_kind kind_ = deadline_kind::none;  // also says which list it is in

 public:
  // Whose link this is. The edge: the connection handle's id, a file descriptor in CAF 0.17
  // (socket_io.hpp), so 32 bits hold it. Declared last, beside kind_: every byte here counts
  // 19,000 times.
  std::int32_t owner = 0;
};

class connection_deadlines {
 public:
  using time_point = deadline_link::time_point;
  using duration = std::chrono::nanoseconds;

  connection_deadlines() = default;
  connection_deadlines(duration request_timeout, duration idle_timeout)
      : request_timeout_(request_timeout), idle_timeout_(idle_timeout) {}
  connection_deadlines(const connection_deadlines&) = delete;
  connection_deadlines& operator=(const connection_deadlines&) = delete;

  // Moves `link` to the back of the list for `kind` from `now` (none: out of every list).
  // Entering the kind it already has changes nothing, and fresh -> reading keeps the time of the
  // connect: a request's deadline runs from its first byte (or the connect), not its last.
  // Precondition: `now` is no earlier than any earlier call's (checked in debug builds).
  void set(deadline_link& link, deadline_kind kind, time_point now);

  // Only while no connection is in a list (checked in debug builds): the lists are in deadline
  // order because the timeouts never change.
  void set_timeouts(duration request_timeout, duration idle_timeout) {
    assert(empty() && "connection_deadlines::set_timeouts with connections in the lists");
    request_timeout_ = request_timeout;
    idle_timeout_ = idle_timeout;
  }

  // The deadline of `link` (meaningless for kind none).
  time_point deadline(const deadline_link& link) const {
    return link.since_ + (link.kind_ == deadline_kind::idle ? idle_timeout_ : request_timeout_);
  }

  // The member whose deadline passed first, if any passed by `now`; nullptr otherwise. The caller
  // closes it (which unlinks it) before asking again.
  deadline_link* first_expired(time_point now) const;

  // The connection to close to make room: the one that entered its list earliest, idle or
  // reading; nullptr when every connection is being answered or waits.
  deadline_link* oldest() const;

  bool empty() const { return !reading_.first && !idle_.first; }

 private:
  struct list_head {
    deadline_link* first = nullptr;
    deadline_link* last = nullptr;
  };
  list_head& list_of(deadline_kind kind) { return kind == deadline_kind::idle ? idle_ : reading_; }
  void unlink(deadline_link& link);

  duration request_timeout_ = k_default_request_timeout;
  duration idle_timeout_ = k_default_idle_timeout;
  list_head reading_;
  list_head idle_;
};

}  // namespace gq
