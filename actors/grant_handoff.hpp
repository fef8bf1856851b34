#pragma once
// Journaled grants on their way from the buckets to the HTTP edge, beside the edge's mailbox.
//
// Why: the edge is a CAF io broker on the multiplexer thread, which runs its network events
// (accept, read, close) at once but its mailbox only when the mailbox's wake-up pipe comes up in
// epoll's ready list, 64 descriptors per epoll_wait. While thousands of requests arrive, that
// list holds thousands of sockets, and a grant sent as a message waited behind them: a round
// decided 60-100 ms ahead reached the edge tens of ms after its due instant
// (docs/BENCHMARKS.md, "Arrival burst"). The edge takes this on every network event instead,
// so a grant is held within one event of being decided.
//
// Each grant still travels as the waiter's verdict too (the response promise): that copy finds
// the grant already held, or written, and is ignored. With no hand-off (actor tests) the
// verdict alone carries it.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "actors/messages.hpp"

namespace gq {

class grant_handoff {
 public:
  struct entry {
    std::int32_t connection = -1;  // waiter_ticket::connection
    std::uint64_t waiter_id = 0;
    verdict grant;
  };

  // Any thread (the buckets').
  void push(entry e) {
    std::lock_guard lock{mutex_};
    entries_.push_back(std::move(e));
    pending_.store(true, std::memory_order_release);
  }

  // The edge's thread: everything pushed so far, in order. Cheap when empty (no lock), since it
  // runs on every network event.
  std::vector<entry> take() {
    std::vector<entry> taken;
    if (!pending_.load(std::memory_order_acquire)) return taken;
    std::lock_guard lock{mutex_};
    taken.swap(entries_);
    pending_.store(false, std::memory_order_relaxed);
    return taken;
  }

 private:
  std::mutex mutex_;
  std::vector<entry> entries_;
  std::atomic<bool> pending_{false};
};

}  // namespace gq
