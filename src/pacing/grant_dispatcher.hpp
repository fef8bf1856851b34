#pragma once
// Journaled grants held until their due instant: the grant writer's store (grant_writer.hpp).
//
// The ledger decides a grant's due instant once (grant_due.hpp) and journals it; the bucket hands
// the grant over ahead of time; the dispatcher holds it, says when the next one is due and which
// are due now, and turns each write into the `sent` report the bucket paces from. No actors,
// sockets or clocks: the caller supplies the time, so the rules are tested with a fake clock
// (tests/src/pacing/grant_dispatcher_test.cpp).
//
// `Grant` is the caller's record of one grant; it needs `waiter_id` (unique among held grants),
// `due` (a time_point) and `bucket` (whom to report to) as members.
//
// Invariants: a grant leaves take_due() at or after its due instant, never before; a grant is
// either held, taken (being written) or withdrawn, exactly once; a report's time is at or after
// the grant's due instant.

#include <cassert>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gq {

template <class Grant>
class grant_dispatcher {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using bucket_ref = decltype(std::declval<Grant>().bucket);

  // What a bucket hears once its grant left: the interval runs from `sent_at`.
  struct sent_report {
    bucket_ref bucket;
    std::uint64_t waiter_id = 0;
    time_point sent_at;
  };

  // Holds `grant` until its due instant. False (and nothing held) when a grant of the same
  // waiter is held already: a waiter has at most one grant.
  bool hold(Grant grant) {
    if (by_waiter_.count(grant.waiter_id) != 0) return false;
    const auto id = grant.waiter_id;
    const auto due = grant.due;
    by_waiter_.emplace(id, by_due_.emplace(due, std::move(grant)));
    return true;
  }

  // The waiter left: its grant, if it is still held (not yet taken to be written). The caller
  // gives it back to its bucket, which passes it to its next waiter at the same due instant.
  std::optional<Grant> withdraw(std::uint64_t waiter_id) {
    auto i = by_waiter_.find(waiter_id);
    if (i == by_waiter_.end()) return std::nullopt;
    auto node = by_due_.extract(i->second);
    by_waiter_.erase(i);
    return std::move(node.mapped());
  }

  bool holds(std::uint64_t waiter_id) const { return by_waiter_.count(waiter_id) != 0; }

  // When the earliest held grant is due; nullopt when none is held.
  std::optional<time_point> next_due() const {
    if (by_due_.empty()) return std::nullopt;
    return by_due_.begin()->first;
  }

  // Takes every grant due at `now` or before, earliest first: the caller writes them now.
  std::vector<Grant> take_due(time_point now) {
    std::vector<Grant> due;
    while (!by_due_.empty() && by_due_.begin()->first <= now) {
      auto node = by_due_.extract(by_due_.begin());
      by_waiter_.erase(node.mapped().waiter_id);
      due.push_back(std::move(node.mapped()));
    }
    return due;
  }

  // Takes every held grant, due or not (the queue stops: none of them will be written as a 200).
  std::vector<Grant> take_all() {
    std::vector<Grant> all;
    all.reserve(by_due_.size());
    for (auto& [due, grant] : by_due_) all.push_back(std::move(grant));
    by_due_.clear();
    by_waiter_.clear();
    return all;
  }

  // The report for a grant taken by take_due() and written whole at `sent_at` (measured after
  // the write returned). Precondition: sent_at >= grant.due (never early).
  static sent_report written(const Grant& grant, time_point sent_at) {
    assert(sent_at >= grant.due);
    return {grant.bucket, grant.waiter_id, sent_at};
  }

  std::size_t size() const { return by_due_.size(); }
  bool empty() const { return by_due_.empty(); }

 private:
  using by_due_map = std::multimap<time_point, Grant>;
  by_due_map by_due_;  // equal due instants keep the order they were held in
  std::unordered_map<std::uint64_t, typename by_due_map::iterator> by_waiter_;
};

}  // namespace gq
