#pragma once
// A bucket: the waiters of one concurrency slot (shard % max_concurrency), granted one at a
// time, first come first served, never two less than the identify interval apart.
//
// Per waiter the bucket holds the response promise of the HTTP edge's request. Shortly before the
// head is due (k_permit_lead) it asks the ledger for a permit (budget + journal commit, stamped
// with the due instant the ledger decides from the earliest the spacing allows) and hands the
// journaled grant to the edge at once, with its due instant. The edge holds it (its grant writer)
// and writes the 200 at that instant, then reports `sent` with the time the write completed, and
// the interval runs from there. Asking ahead keeps the commit off the critical path. A waiter that
// hangs up before its permit is journaled is withdrawn: it costs no grant, no journal row and no
// interval. One that hangs up after (the edge gives the unwritten grant back with `cancel`) passes
// the grant to the next waiter at the same due instant, and the ledger re-attributes the row; with
// nobody waiting the grant counts as sent at its due instant. Either way a hang-up never costs a
// slot.
//
// Invariant: at most one grant is in flight; the next is decided no sooner than the interval
// after the previous one was sent.
//
// A bucket lives only while it has work: once it has no waiter, nothing set aside, no grant in
// flight and its next grant is allowed now, it asks the gate to rest (idle_atom) with its
// bucket_rest, and ends if the gate agrees. The gate starts it again from that record for the
// next waiter or outcome.

#include <caf/actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "actors/grant_handoff.hpp"
#include "actors/ledger.hpp"
#include "actors/messages.hpp"
#include "src/pacing/bucket_pacer.hpp"
#include "src/pacing/bucket_widening.hpp"
#include "src/pacing/clock_anchor.hpp"

namespace gq {

// Where a draining bucket hands its waiters (the gate, which routes each to its new bucket).
using waiter_line_actor =
    caf::typed_actor<caf::replies_to<enqueue_atom, waiter_ticket>::with<verdict>>;

// The gate, as its buckets see it. A bucket with nothing to do asks to rest: its index, what it
// leaves behind, and how many enqueues and outcomes it has received. The gate answers true (the
// bucket ends) only if it has sent that many to this very bucket, which is still the bucket of
// its index: otherwise one is on its way and the bucket is not idle after all.
using bucket_owner_actor =
    caf::typed_actor<caf::replies_to<idle_atom, std::uint32_t /*index*/, bucket_rest,
                                     std::uint64_t /*received*/>::with<bool>>;

using bucket_actor = caf::typed_actor<
    caf::replies_to<enqueue_atom, waiter_ticket>::with<verdict>,
    // The waiter left: withdrawn if not yet journaled; if its grant is with the edge, the edge
    // did not write it and gives it back (the grant goes to the next waiter).
    caf::reacts_to<cancel_atom, std::uint64_t /*waiter id*/>,
    // The edge wrote the 200 of this waiter at the given steady time (since the clock's epoch):
    // the interval runs from that instant.
    caf::reacts_to<sent_atom, std::uint64_t /*waiter id*/, caf::timespan /*sent at*/>,
    // Re-bucketing: hand every waiter to the given line (in arrival order), finish the grant in
    // flight, answer with the earliest next grant (steady clock) and quit.
    caf::replies_to<drain_atom, waiter_line_actor>::with<caf::timespan>,
    // Start granting (a bucket made by re-bucketing waits for this), no sooner than the time.
    caf::reacts_to<release_atom, caf::timespan /*steady time since epoch*/>,
    caf::replies_to<status_atom>::with<bucket_status>,
    // A shard of this bucket reported what its grant (released at the given unix ms) became,
    // journaled: an Invalid Session soon after the grant widens the bucket.
    caf::reacts_to<outcome_atom, std::uint64_t /*shard*/, grant_outcome, unix_ms /*granted at*/>,
    // The status, with the place in line of the first waiter of this shard.
    caf::replies_to<status_atom, shard_id>::with<bucket_status>, caf::reacts_to<shutdown_atom>>;

struct bucket_config {
  bot_key bot = 0;  // whose budget its permits spend (the ledger's books)
  std::uint32_t index = 0;
  std::uint32_t max_concurrency = 1;
  caf::timespan interval{};
  ledger_actor ledger;
  clock_anchor anchor;
  // Where it left off when it last rested (its next grant instant and widening as a restart read
  // them back from the journal, for a bucket not started since).
  bucket_rest rest;
  bool held = false;         // wait for `release` before granting
  bucket_owner_actor owner;  // whom it asks to rest
  // Where journaled grants also go, straight to the edge (null: the verdict alone).
  std::shared_ptr<grant_handoff> handoff;
};

// What the bucket itself is: its interface plus the timer it sets for itself, which no other
// actor holds a handle to send (spawn_bucket returns a bucket_actor).
using bucket_self_actor = bucket_actor::extend<caf::reacts_to<tick_atom>>;

struct bucket_state {
  using pointer = bucket_self_actor::stateful_pointer<bucket_state>;

  explicit bucket_state(pointer self) : self_(self) {}

  void init(bucket_config config);
  caf::result<verdict> enqueue(const waiter_ticket& ticket);
  void cancel(std::uint64_t waiter_id);
  void on_sent(std::uint64_t waiter_id, caf::timespan sent_at);
  void on_outcome(std::uint64_t shard, const grant_outcome& outcome, unix_ms granted_at);
  void on_tick();
  caf::result<caf::timespan> drain(waiter_line_actor line);
  void release(caf::timespan not_before);
  // `shard` (if any) is looked up on request, by walking the line: a waiter stores
  // nothing for it.
  bucket_status status(shard_id shard = {}) const;
  void shut_down();

  static constexpr const char* name = "bucket";

 private:
  struct waiter {
    waiter_ticket ticket;
    caf::typed_response_promise<verdict> promise;
  };
  enum class phase {
    asking,   // the ledger has the permit request
    sending,  // journaled and handed to the edge, waiting for `sent`
  };

  void try_grant();
  void on_verdict(std::uint64_t waiter_id, verdict result);
  void after_grant_attempt();
  // The grant in flight (journaled, phase sending) lost its waiter: give it to the next one.
  void pass_on();
  // Hands the journaled grant to the edge: through the hand-off and as the verdict.
  void deliver_grant(waiter& w);
  void schedule_tick(caf::actor_clock::time_point due);
  void hand_over(waiter& w);
  void finish_drain();
  // With nothing to do and its next grant allowed now, asks the gate to rest (once per idle
  // spell); until then, sets a tick for that instant.
  void rest_if_idle();
  bucket_rest at_rest() const;
  // A boot held out of the reserve steps aside until `until` (unix ms), so the reconnects
  // behind it are not held with it.
  void set_aside(waiter w, unix_ms until);
  // The spacing now: the interval, widened after Invalid Sessions.
  caf::timespan spacing() const;
  unix_ms now_unix() const;

  pointer self_;
  bucket_config config_;
  std::optional<bucket_pacer> pacer_;
  std::map<std::uint64_t, waiter> queue_;      // keyed by arrival id: iteration order is FIFO
  std::map<std::uint64_t, waiter> set_aside_;  // boots waiting for the reserve's reset
  caf::actor_clock::time_point set_aside_until_{};
  bucket_widening widening_;
  std::vector<reported_outcome> last_outcomes_;  // newest first, at most k_last_outcomes
  std::uint64_t invalid_sessions_ = 0;
  std::uint64_t received_ = 0;     // enqueues and outcomes, all from the gate (counted for resting)
  bool asked_to_rest_ = false;     // since the last of them
  std::optional<waiter> current_;  // the grant in flight
  phase phase_ = phase::asking;
  bool current_left_ = false;  // its client hung up while its permit was asked for
  verdict grant_;              // phase sending: the journaled grant, as the ledger answered
  std::optional<caf::actor_clock::time_point> tick_due_;
  std::optional<caf::typed_response_promise<caf::timespan>> drain_promise_;
  waiter_line_actor drain_line_;
  bool shutting_down_ = false;
};

bucket_self_actor::behavior_type bucket(bucket_state::pointer self, bucket_config config);

// A bucket's status from its rest record (nobody waiting), as the gate answers for a resting
// bucket and the bucket itself starts its own.
bucket_status status_at_rest(std::uint32_t index, const bucket_rest& rest, caf::timespan interval,
                             const clock_anchor& anchor, caf::actor_clock::time_point now);

}  // namespace gq
