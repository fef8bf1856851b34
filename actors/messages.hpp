#pragma once
// Every atom and message type the actors exchange, grouped by the actor that receives them.
// CAF 0.17: atoms are at most 10 characters; every message type has an inspect() overload.

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/actor_clock.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "src/core/bot.hpp"
#include "src/core/records.hpp"
#include "src/core/status.hpp"
#include "src/pacing/bucket_widening.hpp"

namespace gq {

// -- shared ---------------------------------------------------------------------------------------

using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;

// Where an actor that blocks (on fsync, a query, HTTPS) runs: a thread of its own in production;
// the scheduler's under CAF's test coordinator, which runs every actor on the test's thread.
enum class actor_thread : bool { scheduler, own };
using status_atom = caf::atom_constant<caf::atom("status")>;

// Steady-clock instants travel in messages as a caf::timespan since the clock's epoch; this is
// the instant again.
inline caf::actor_clock::time_point steady_instant(caf::timespan since_epoch) {
  return caf::actor_clock::time_point{
      std::chrono::duration_cast<caf::actor_clock::duration_type>(since_epoch)};
}

// One waiting request, as the HTTP edge hands it to the queue.
struct waiter_ticket {
  std::uint64_t id = 0;  // unique and increasing in arrival order: the FIFO key
  shard_id shard;
  unix_ms arrived_at = 0;
  // The edge's key for the waiter's connection, opaque to the queue: a grant handed off beside
  // the mailbox (actors/grant_handoff.hpp) names it. CAF 0.17's connection handle id, a file
  // descriptor, hence 32 bits: with `initial` beside it a ticket stays 32 bytes, and a waiter
  // waits in its bucket's map in the same allocation size class as before the flag existed.
  std::int32_t connection = -1;
  // A boot (initial=true), not a reconnect: never granted from the reserve (QUEUE_RESERVE).
  bool initial = false;
};

static_assert(sizeof(waiter_ticket) == 32, "a waiter's ticket is 32 bytes (see connection)");

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, waiter_ticket& x) {
  return f(caf::meta::type_name("waiter_ticket"), x.id, x.shard, x.arrived_at, x.connection,
           x.initial);
}

// The answer to a waiter (from a bucket) and to a permit request (from the ledger).
enum class verdict_kind : std::uint8_t {
  granted,        // may identify now; the grant is journaled
  exhausted,      // daily budget used up under QUEUE_ON_EXHAUSTED=reject; retry at `at`
  unavailable,    // the journal cannot be written: nothing is granted (fail closed)
  shutting_down,  // the queue is stopping
  withdrawn,      // the waiter left (hang-up) or moved (re-bucketing) before it was granted
  looping,        // its shard was granted QUEUE_SHARD_HOURLY_LIMIT times this hour; retry at `at`
  reserved,       // a boot refused from the reserve under QUEUE_ON_EXHAUSTED=reject; retry at `at`
  deferred,       // a boot held out of the reserve: its bucket sets it aside until `at`
};

using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using sent_atom = caf::atom_constant<caf::atom("sent")>;

// The bucket that granted a waiter, as the HTTP edge sees it: it hears when the 200 left, or gets
// the grant back when the waiter's client left before it was written (the grant goes to its next
// waiter).
using grant_owner_actor = caf::typed_actor<
    // The 200 of this waiter left at the given steady time (since the clock's epoch): the
    // interval runs from that instant.
    caf::reacts_to<sent_atom, std::uint64_t /*waiter id*/, caf::timespan /*sent at*/>,
    // The waiter left: withdrawn if not yet journaled; if its grant is with the edge, the edge
    // did not write it and gives it back.
    caf::reacts_to<cancel_atom, std::uint64_t /*waiter id*/>>;

struct verdict {
  verdict_kind kind = verdict_kind::granted;
  unix_ms at = 0;              // granted: released_at; exhausted: when the budget refills
  std::int64_t waited_ms = 0;  // granted: time from arrival to release
  std::uint32_t bucket = 0;
  // granted: the steady-clock instant (since its epoch) before which the 200 must not leave,
  // decided once by the ledger (grant_due) and journaled as `at`. A bucket delivers a grant as soon
  // as it is journaled, ahead of time; the edge holds it (its grant writer) and reports `sent` to
  // `granted_by`, or gives it back there with `cancel` if its client leaves first.
  caf::timespan due{0};
  grant_owner_actor granted_by;  // granted: the bucket

  static verdict of(verdict_kind kind, unix_ms at = 0) { return {kind, at, 0, 0, {}, {}}; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, verdict& x) {
  return f(caf::meta::type_name("verdict"), x.kind, x.at, x.waited_ms, x.bucket, x.due,
           x.granted_by);
}

// The wait journaled and answered for a waiter granted at `released_at`.
constexpr std::int64_t waited_ms(unix_ms arrived_at, unix_ms released_at) {
  return released_at > arrived_at ? released_at - arrived_at : 0;
}

// -- gate and buckets -----------------------------------------------------------------------------

using enqueue_atom = caf::atom_constant<caf::atom("enqueue")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using resize_atom = caf::atom_constant<caf::atom("resize")>;
// A bucket with nothing to do, to the gate: may it rest (end, leaving its bucket_rest behind)?
using idle_atom = caf::atom_constant<caf::atom("idle")>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, grant_estimate& x) {
  return f(caf::meta::type_name("grant_estimate"), x.known, x.at, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bucket_status& x) {
  return f(caf::meta::type_name("bucket_status"), x.bucket, x.waiting, x.next_grant_at, x.head_at,
           x.shard_position, x.drain, x.interval_ms, x.invalid_sessions, x.last_outcomes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reported_outcome& x) {
  return f(caf::meta::type_name("reported_outcome"), x.shard, x.outcome, x.after_ms);
}

// What a bucket leaves behind when it rests (no waiter, nothing in flight, its next grant allowed
// now): all the gate needs to answer /status for it and to start it again exactly where it was.
struct bucket_rest {
  // Steady instants since the clock's epoch: the earliest its next grant may be decided (its
  // pacer's, widening included) and when its last grant was sent (none: not since it started).
  caf::timespan next_grant_at{0};
  std::optional<caf::timespan> last_sent;
  bucket_widening widening{};
  std::uint64_t invalid_sessions = 0;
  std::vector<reported_outcome> last_outcomes;  // newest first, at most a few
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bucket_rest& x) {
  caf::timespan last_sent = x.last_sent.value_or(caf::timespan::min());
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.last_sent =
        last_sent == caf::timespan::min() ? std::nullopt : std::optional<caf::timespan>{last_sent};
    return caf::none;
  });
  return f(caf::meta::type_name("bucket_rest"), x.next_grant_at, last_sent, x.widening,
           x.invalid_sessions, x.last_outcomes, load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, looping_shard& x) {
  return f(caf::meta::type_name("looping_shard"), x.shard, x.until);
}

// A shard's report of what its newest grant became (POST /outcome), on its way to the ledger.
struct outcome_report {
  std::uint64_t shard = 0;
  grant_outcome outcome;
};

// The ledger's answer to an outcome_report.
enum class outcome_answer : std::uint8_t {
  journaled,    // written on the grant's row (`row`)
  no_grant,     // no grant of that shard in the last k_outcome_window_ms: 409
  unavailable,  // the journal cannot be written: 503
};

struct outcome_receipt {
  outcome_answer answer = outcome_answer::unavailable;
  grant_row row;  // journaled: the grant the report is about
};

// A report is about the shard's newest grant in this window; older than that, the shard has
// probably been granted by another path or is not reporting on a grant at all.
inline constexpr unix_ms k_outcome_window_ms = 10 * 60 * 1000;

using outcome_atom = caf::atom_constant<caf::atom("outcome")>;

// Optional fields travel as sentinel values, as release_record's shard does.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, grant_outcome& x) {
  std::int64_t code = x.code ? static_cast<std::int64_t>(*x.code) : -1;
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.code =
        code < 0 ? std::nullopt : std::optional<std::uint32_t>{static_cast<std::uint32_t>(code)};
    return caf::none;
  });
  return f(caf::meta::type_name("grant_outcome"), x.result, code, x.reported_at, load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outcome_report& x) {
  return f(caf::meta::type_name("outcome_report"), x.shard, x.outcome);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, grant_row& x) {
  return f(caf::meta::type_name("grant_row"), x.released_at, x.bucket, x.max_concurrency);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outcome_receipt& x) {
  return f(caf::meta::type_name("outcome_receipt"), x.answer, x.row);
}

// -- ledger (daily budget and journal) -----------------------------------------------------------

// How long before a grant is due its permit is asked for: covers a journal commit (p99 0.5 ms
// here) and the fsync stalls of a busy disk (80 ms seen on this virtual disk, see
// docs/BENCHMARKS.md). A client that hangs up within this time before its grant cannot take its
// journal row back; the grant goes to the next waiter of its bucket at the same due instant
// (reattribute_atom), or counts as sent at its due instant when nobody waits.
constexpr std::chrono::milliseconds k_permit_lead{100};

using permit_atom = caf::atom_constant<caf::atom("permit")>;
using withdraw_atom = caf::atom_constant<caf::atom("withdraw")>;
using limits_atom = caf::atom_constant<caf::atom("limits")>;
using fetching_atom = caf::atom_constant<caf::atom("fetching")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using refresh_atom = caf::atom_constant<caf::atom("refresh")>;
// Whom the ledger asks to re-read a bot's limits when its remaining reaches 0 (the limits
// scheduler).
using refresh_target_actor = caf::typed_actor<caf::reacts_to<refresh_atom, bot_key>>;
// A bot starts (or its settings change on a reload) and ends (a reload removed it).
using join_atom = caf::atom_constant<caf::atom("join")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;

// What a bot's gate resumes from, read by the ledger (the journal's writer) when the bot joins.
struct bot_recovery {
  recovery_state journaled;  // the newest limits and each bucket's newest grant
  std::vector<reported_invalid_session> invalid_sessions;  // the last day's, oldest first
};
// The journal passed its deferred integrity check (storage::journal::verify): grants may go.
using verified_atom = caf::atom_constant<caf::atom("verified")>;
// The ledger's own timer: prove the journal's writer session still holds the journal.
using confirm_atom = caf::atom_constant<caf::atom("confirm")>;
// A journaled grant went to the next waiter of its bucket: fix its row in the next commit.
using reattribute_atom = caf::atom_constant<caf::atom("reattrib")>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_limits& x) {
  return f(caf::meta::type_name("session_limits"), x.total, x.remaining, x.reset_at,
           x.max_concurrency, x.source, x.fetched_at);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, histogram_counts& x) {
  return f(caf::meta::type_name("histogram_counts"), x.counts, x.above, x.sum);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, discord_refreshes& x) {
  return f(caf::meta::type_name("discord_refreshes"), x.ok, x.error, x.rate_limited,
           x.unauthorized);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ledger_status& x) {
  return f(caf::meta::type_name("ledger_status"), x.limits_known, x.limits, x.last_refresh,
           x.discord_stopped, x.grants_total, x.journal_failures, x.held, x.wait_counts,
           x.wait_count_inf, x.wait_sum_seconds, x.commit_seconds, x.last_grant_at, x.refreshes,
           x.discord_up, x.reject_when_exhausted, x.shard_hourly_limit, x.looping, x.reserve);
}

// -- limits scheduler -----------------------------------------------------------------------------

using stopped_atom = caf::atom_constant<caf::atom("stopped")>;
// A read of Discord's limits ended (any result): counted for /metrics.
using refreshed_atom = caf::atom_constant<caf::atom("refreshed")>;

// -- archive (history reads, retention) -----------------------------------------------------------

using history_atom = caf::atom_constant<caf::atom("history")>;
using prune_atom = caf::atom_constant<caf::atom("prune")>;

// A grant as GET /history shows it; an absent outcome travels as `reported` false.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_record& x) {
  bool reported = x.outcome.has_value();
  grant_outcome outcome = x.outcome.value_or(grant_outcome{});
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.outcome = reported ? std::optional<grant_outcome>{outcome} : std::nullopt;
    return caf::none;
  });
  return f(caf::meta::type_name("release_record"), x.released_at, x.shard, x.bucket,
           x.max_concurrency, x.waited_ms, reported, outcome, x.bot, load);
}

// -- HTTP edge ------------------------------------------------------------------------------------

// From main: listen (host, port), answered with the bound port; shutdown_atom stops it.
using listen_atom = caf::atom_constant<caf::atom("listen")>;
// Timers the edge sets for itself: the next due grant, the batched `sent` reports, the end of the
// shutdown's grace period.
using grant_timer_atom = caf::atom_constant<caf::atom("grant_t")>;
using report_timer_atom = caf::atom_constant<caf::atom("report_t")>;
using shutdown_timeout_atom = caf::atom_constant<caf::atom("shutdown_t")>;
// The deadline sweep: `true` for the periodic tick, `false` for the rest of a long sweep.
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
// From main: this process holds the journal now, waiters go to this gate and /history to this
// archive (activate_atom, bots, archive); it no longer does (standby_atom): every waiter is
// answered 503 and no held grant is written.
using activate_atom = caf::atom_constant<caf::atom("activate")>;
// From main after a reload: the bots are now these (bots removed: their waiters get 503).
using roster_atom = caf::atom_constant<caf::atom("roster")>;
using standby_atom = caf::atom_constant<caf::atom("standby")>;

// -- the whole queue, as /status and /metrics show it ---------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_status& x) {
  return f(caf::meta::type_name("queue_status"), x.ledger, x.buckets, x.max_concurrency,
           x.identify_interval_ms, x.shard, x.shard_position, x.shard_eta);
}

}  // namespace gq

// Travels only between actors of this process, never serialized.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gq::bot_recovery)
