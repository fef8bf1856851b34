#include "src/http/connection_deadlines.hpp"

#include <cassert>

namespace gq {

// Per connection, 19,000 times over (docs/BENCHMARKS.md, memory per waiter).
static_assert(sizeof(deadline_link) <= 32, "deadline_link grew");

void connection_deadlines::unlink(deadline_link& link) {
  if (link.kind_ == deadline_kind::none) return;
  auto& list = list_of(link.kind_);
  (link.prev_ ? link.prev_->next_ : list.first) = link.next_;
  (link.next_ ? link.next_->prev_ : list.last) = link.prev_;
  link.prev_ = link.next_ = nullptr;
  link.kind_ = deadline_kind::none;
}

void connection_deadlines::set(deadline_link& link, deadline_kind kind, time_point now) {
  if (link.kind_ == kind) return;
  if (link.kind_ == deadline_kind::fresh && kind == deadline_kind::reading) {
    link.kind_ = kind;  // keeps its place and time: the request's deadline runs from the connect
    return;
  }
  unlink(link);
  if (kind == deadline_kind::none) return;
  auto& list = list_of(kind);
  assert((!list.last || list.last->since_ <= now) && "connection_deadlines::set: time went back");
  link.kind_ = kind;
  link.since_ = now;
  link.prev_ = list.last;
  (list.last ? list.last->next_ : list.first) = &link;
  list.last = &link;
}

deadline_link* connection_deadlines::first_expired(time_point now) const {
  deadline_link* candidate = nullptr;
  for (auto* head : {reading_.first, idle_.first}) {
    if (head && deadline(*head) <= now && (!candidate || deadline(*head) < deadline(*candidate)))
      candidate = head;
  }
  return candidate;
}

deadline_link* connection_deadlines::oldest() const {
  auto* reading = reading_.first;
  auto* idle = idle_.first;
  if (!reading || !idle) return reading ? reading : idle;
  return idle->since_ <= reading->since_ ? idle : reading;
}

}  // namespace gq
