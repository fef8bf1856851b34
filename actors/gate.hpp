#pragma once
// The gate: where the HTTP edge hands in waiters. It keeps one bucket per concurrency slot,
// routes each waiter to bucket shard % max_concurrency (no shard: bucket 0), and re-forms the
// buckets when max_concurrency changes, keeping every waiter's place in line.
//
// A bucket is an actor only while it has work. An idle one rests: the gate keeps its bucket_rest
// (next grant instant, widening, what /status shows) and spawns the bucket from it for the next
// waiter or outcome, so an idle bot costs its gate and a few words per bucket.
//
// Re-bucketing: resting old buckets have nothing to hand over; each live one hands its waiters
// back to the gate (in arrival order), which routes them to new buckets spawned held, finishes its
// grant in flight and reports when it could next have granted. Only then are the new buckets
// released (or set to rest), no sooner than the interval after the last grant of any old bucket.

#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "actors/bucket.hpp"
#include "actors/ledger.hpp"
#include "actors/messages.hpp"

namespace gq {

// The gate's public handle: what the edge and the limits scheduler may send.
using gate_actor = caf::typed_actor<
    caf::replies_to<enqueue_atom, waiter_ticket>::with<verdict>,
    // The waiter's client hung up.
    caf::reacts_to<cancel_atom, std::uint64_t /*waiter id*/, shard_id>,
    caf::reacts_to<resize_atom, std::uint32_t /*max_concurrency*/>,
    // POST /outcome: journaled by the ledger, then told to the grant's bucket (widening).
    caf::replies_to<outcome_atom, outcome_report>::with<outcome_receipt>,
    caf::replies_to<status_atom>::with<queue_status>,
    // The status with where this shard stands (its place in line, its estimated grant).
    caf::replies_to<status_atom, shard_id>::with<queue_status>, caf::reacts_to<shutdown_atom>>;

// The gate itself: its buckets also ask it to rest.
using gate_self_actor = gate_actor::extend_with<bucket_owner_actor>;

struct gate_config {
  ledger_actor ledger;
  bot_key bot = 0;  // the bot whose buckets these are (the ledger's books)
  clock_anchor anchor;
  caf::timespan interval{};
  std::uint32_t max_concurrency = 1;
  std::vector<unix_ms> resume_at;          // per bucket, from the journal (see pacing/recovery.hpp)
  std::shared_ptr<grant_handoff> handoff;  // given to every bucket (null: none)
  widening_rule widening{};                // QUEUE_WIDEN_STEP_MS, QUEUE_WIDEN_MAX_MS
  // Per bucket, its widening as the journal's Invalid Sessions left it (missing: none). Buckets
  // re-formed for a new max_concurrency start unwidened. With resume_at, the buckets' first
  // rest records: nothing is spawned at start.
  std::vector<bucket_widening> widened{};
};

struct gate_state {
  using pointer = gate_self_actor::stateful_pointer<gate_state>;

  explicit gate_state(pointer self) : self_(self) {}

  void init(gate_config config);
  caf::result<verdict> enqueue(const waiter_ticket& ticket);
  void cancel(std::uint64_t waiter_id, shard_id shard);
  void resize(std::uint32_t max_concurrency);
  caf::result<outcome_receipt> outcome(const outcome_report& report);
  // Gathers the ledger's and every bucket's status, then estimates each bucket's drain time and,
  // for `shard` (if any), its grant time (src/pacing/eta.hpp).
  caf::result<queue_status> status(shard_id shard = {});
  // A bucket asks to rest (bucket_owner_actor): true when it may end.
  bool on_idle(std::uint32_t index, bucket_rest rest, std::uint64_t received);
  void shut_down();

  static constexpr const char* name = "gate";

 private:
  // One bucket index: its actor while it has work, else where it left off.
  struct bucket_slot {
    bucket_actor live;       // null: at rest
    std::uint64_t sent = 0;  // enqueues and outcomes sent to `live`
    bucket_rest rest;        // while at rest
  };
  // The live bucket of `index`, spawned from its rest record if it rests (held while
  // re-bucketing: its waiters are released with the others).
  bucket_slot& wake(std::uint32_t index);
  bucket_rest fresh_rest() const;
  void finish_resize();

  pointer self_;
  gate_config config_;
  std::vector<bucket_slot> slots_;
  bool warned_missing_shard_ = false;
  bool shutting_down_ = false;
  // While re-bucketing:
  std::vector<bucket_slot> old_slots_;
  std::size_t drains_pending_ = 0;
  caf::timespan release_at_{};
  std::vector<std::pair<std::uint64_t, shard_id>> cancels_during_resize_;
  std::optional<std::uint32_t> next_size_;  // a further change that arrived meanwhile
};

gate_self_actor::behavior_type gate(gate_state::pointer self, gate_config config);

}  // namespace gq
