// When each bot's limits are read from Discord, with a fake clock: reads take no time, and the
// loop in run() stands for the actor that reads for every bot on one thread.
#include "src/pacing/refresh_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <vector>

namespace gq {
namespace {

using namespace std::chrono_literals;
using time_point = refresh_plan::time_point;
using duration = refresh_plan::duration;

const time_point t0 = time_point{} + 1000h;
const time_point far_reset = t0 + 10000h;  // a reset that never comes within a test

struct read {
  time_point at;
  bot_key bot;
};

// What Discord answers a read of `bot` at `now`: reports the outcome to the plan.
using discord = std::function<void(refresh_plan&, bot_key bot, time_point now)>;

void always_ok(refresh_plan& plan, bot_key bot, time_point now) { plan.ok(bot, now, far_reset); }

// Reads whatever the plan says is due, in order, until `until` (exclusive); the clock jumps
// from one due read to the next. Every read the plan announces must be there to take.
std::vector<read> run(refresh_plan& plan, time_point& now, time_point until,
                      const discord& answer = always_ok) {
  std::vector<read> reads;
  for (auto next = plan.next_at(); next && *next < until; next = plan.next_at()) {
    now = std::max(now, *next);
    const auto bot = plan.take_due(now);
    EXPECT_TRUE(bot.has_value()) << "next_at promised a read it did not give";
    if (!bot) break;
    reads.push_back({now, *bot});
    answer(plan, *bot, now);
  }
  now = std::max(now, until);
  return reads;
}

std::vector<time_point> times_of(const std::vector<read>& reads, bot_key bot) {
  std::vector<time_point> times;
  for (const auto& r : reads)
    if (r.bot == bot) times.push_back(r.at);
  return times;
}

duration min_spacing(const std::vector<read>& reads) {
  duration least = duration::max();
  for (std::size_t i = 1; i < reads.size(); ++i)
    least = std::min(least, reads[i].at - reads[i - 1].at);
  return least;
}

void add_bots(refresh_plan& plan, bot_key count, time_point now) {
  for (bot_key bot = 1; bot <= count; ++bot) ASSERT_TRUE(plan.add(bot, now));
}

TEST(refresh_plan, a_thousand_bots_added_at_once_are_read_one_by_one_with_the_minimum_gap) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 1000, t0);
  auto now = t0;
  const auto reads = run(plan, now, t0 + 60s);
  ASSERT_EQ(reads.size(), 1000u) << "each bot once, none again before its periodic slot";
  for (std::size_t i = 0; i < reads.size(); ++i) {
    EXPECT_EQ(reads[i].at, t0 + static_cast<int>(i) * 20ms) << "read " << i;
    EXPECT_EQ(reads[i].bot, i + 1) << "all due at once: in key order";
  }
}

TEST(refresh_plan, a_read_waits_out_the_minimum_gap_after_the_previous_one) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 2, t0);
  EXPECT_EQ(plan.take_due(t0), bot_key{1});
  EXPECT_EQ(plan.next_at(), t0 + 20ms);
  EXPECT_EQ(plan.take_due(t0), std::nullopt);
  EXPECT_EQ(plan.take_due(t0 + 19ms), std::nullopt);
  EXPECT_EQ(plan.take_due(t0 + 20ms), bot_key{2});
}

TEST(refresh_plan, periodic_reads_of_many_bots_are_spread_evenly_over_the_interval) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 1000, t0);
  auto now = t0;
  run(plan, now, t0 + 300s);  // the start and the re-alignment to the slots
  const auto reads = run(plan, now, t0 + 900s);
  ASSERT_EQ(reads.size(), 2000u) << "every bot twice in two intervals";
  for (bot_key bot = 1; bot <= 1000; ++bot) {
    const auto times = times_of(reads, bot);
    ASSERT_EQ(times.size(), 2u) << "bot " << bot;
    EXPECT_EQ(times[1] - times[0], 300s) << "bot " << bot << ": one interval apart";
  }
  EXPECT_GE(min_spacing(reads), 300ms) << "interval / bots apart";
}

TEST(refresh_plan, a_bot_added_later_is_read_at_once_and_then_joins_the_spread) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 4, t0);
  auto now = t0;
  run(plan, now, t0 + 450s);
  ASSERT_TRUE(plan.add(5, now));
  EXPECT_EQ(plan.next_at(), now) << "a new bot's limits are wanted at once";
  run(plan, now, now + 600s);  // every bot moves to its new phase within two intervals
  const auto reads = run(plan, now, now + 600s);
  ASSERT_EQ(reads.size(), 10u);
  EXPECT_GE(min_spacing(reads), 60s) << "300 s / 5 bots";
}

TEST(refresh_plan, bots_whose_windows_reset_at_the_same_instant_are_not_read_in_a_herd) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 1000, t0);
  const auto reset = t0 + 100s;
  const auto answer = [reset](refresh_plan& p, bot_key bot, time_point now) {
    p.ok(bot, now, now < reset ? reset : reset + 24h);
  };
  auto now = t0;
  run(plan, now, reset, answer);
  const auto reads = run(plan, now, reset + 1s + 60s, answer);
  std::set<bot_key> read_after_reset;
  for (const auto& r : reads) read_after_reset.insert(r.bot);
  EXPECT_EQ(read_after_reset.size(), 1000u) << "every bot re-read after the reset";
  EXPECT_GE(reads.front().at, reset + 1s) << "Discord has refilled by then";
  EXPECT_GE(min_spacing(reads), 60ms) << "spread over 60 s, not at the minimum gap";
  std::size_t most_in_a_second = 0;
  for (auto first = reads.begin(); first != reads.end(); ++first) {
    const auto last =
        std::find_if(first, reads.end(), [&](const read& r) { return r.at >= first->at + 1s; });
    most_in_a_second = std::max<std::size_t>(most_in_a_second, last - first);
  }
  EXPECT_LE(most_in_a_second, 17u) << "1000 reads over 60 s";
}

TEST(refresh_plan, a_rate_limited_bot_waits_retry_after_and_no_other_bot_waits) {
  refresh_plan calm{{}, 1}, limited{{}, 1};
  add_bots(calm, 3, t0);
  add_bots(limited, 3, t0);
  auto calm_now = t0, limited_now = t0;
  const auto calm_reads = run(calm, calm_now, t0 + 1h);
  run(limited, limited_now, t0 + 150s);  // bot 2 is due again at 400 s
  int limits = 0;
  time_point limited_at{};
  const auto reads =
      run(limited, limited_now, t0 + 1h, [&](refresh_plan& p, bot_key bot, auto now) {
        if (bot == 2 && limits++ == 0) {
          limited_at = now;
          p.rate_limited(bot, now, 250000ms);  // a wait that other bots' slots fall within
        } else {
          p.ok(bot, now, far_reset);
        }
      });
  const auto bot2 = times_of(reads, 2);
  ASSERT_GE(bot2.size(), 2u);
  EXPECT_EQ(bot2[0], limited_at);
  EXPECT_EQ(bot2[1], limited_at + 250s) << "retry_after, not sooner, not later";
  for (const bot_key other : {bot_key{1}, bot_key{3}}) {
    auto before = times_of(calm_reads, other);
    before.erase(
        std::remove_if(before.begin(), before.end(), [](time_point at) { return at < t0 + 150s; }),
        before.end());
    EXPECT_EQ(times_of(reads, other), before) << "bot " << other << " kept its plan";
  }
}

TEST(refresh_plan, one_bots_outage_does_not_move_the_other_bots_reads) {
  refresh_plan calm{{}, 1}, outage{{}, 1};
  add_bots(calm, 3, t0);
  add_bots(outage, 3, t0);
  auto calm_now = t0, outage_now = t0;
  const auto calm_reads = run(calm, calm_now, t0 + 2h);
  const auto reads = run(outage, outage_now, t0 + 2h, [](refresh_plan& p, bot_key bot, auto now) {
    if (bot == 2)
      p.failed(bot, now);
    else
      p.ok(bot, now, far_reset);
  });
  EXPECT_GT(times_of(reads, 2).size(), 100u) << "retried, backing off up to the 60 s cap";
  for (const bot_key other : {bot_key{1}, bot_key{3}})
    EXPECT_EQ(times_of(reads, other), times_of(calm_reads, other)) << "bot " << other;
}

TEST(refresh_plan, backoff_grows_per_bot_and_starts_over_after_a_good_read) {
  refresh_plan plan{{}, 7};
  add_bots(plan, 2, t0);
  auto now = t0;
  const auto fail = [&](bot_key bot) {
    now = std::max(now, *plan.planned_at(bot));
    const auto wait = plan.failed(bot, now);
    EXPECT_EQ(plan.planned_at(bot), now + wait) << "bot " << bot;
    return wait;
  };
  std::chrono::milliseconds ceiling = 1000ms;
  for (int failure = 0; failure < 8; ++failure) {
    const auto wait = fail(1);
    EXPECT_GE(wait, ceiling / 2) << "failure " << failure;
    EXPECT_LE(wait, ceiling) << "failure " << failure;
    ceiling = std::min(ceiling * 2, 60000ms);
  }
  EXPECT_LE(fail(2), 1000ms) << "bot 2's first failure: bot 1's failures are its own";
  EXPECT_GE(fail(1), 30000ms) << "bot 1 still at the cap";
  now = *plan.planned_at(1);
  plan.ok(1, now, far_reset);
  EXPECT_LE(fail(1), 1000ms) << "a good read starts the backoff over";
}

TEST(refresh_plan, the_most_overdue_read_comes_first) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 3, t0);
  auto now = t0;
  EXPECT_EQ(plan.take_due(now), bot_key{1});
  plan.rate_limited(1, now, 300ms);
  now += 20ms;
  EXPECT_EQ(plan.take_due(now), bot_key{2});
  plan.rate_limited(2, now, 200ms);  // due at 220 ms
  now += 20ms;
  EXPECT_EQ(plan.take_due(now), bot_key{3});
  plan.rate_limited(3, now, 100ms);  // due at 140 ms
  now = t0 + 1s;
  EXPECT_EQ(plan.take_due(now), bot_key{3});
  now += 20ms;
  EXPECT_EQ(plan.take_due(now), bot_key{2});
  now += 20ms;
  EXPECT_EQ(plan.take_due(now), bot_key{1});
}

TEST(refresh_plan, an_ask_brings_the_read_forward_unless_the_bot_waits_out_a_429_or_a_backoff) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 1, t0);
  auto now = t0;
  ASSERT_EQ(plan.take_due(now), bot_key{1});
  plan.ask(1, now);
  EXPECT_EQ(plan.planned_at(1), std::nullopt) << "being read: that read will do";
  plan.ok(1, now, far_reset);

  now += 10s;
  plan.ask(1, now);
  EXPECT_EQ(plan.planned_at(1), now) << "remaining reached 0: read now, not at 300 s";
  ASSERT_EQ(plan.take_due(now), bot_key{1});
  plan.rate_limited(1, now, 7000ms);
  plan.ask(1, now + 1s);
  EXPECT_EQ(plan.planned_at(1), now + 7s) << "Discord said when";

  now += 7s;
  ASSERT_EQ(plan.take_due(now), bot_key{1});
  const auto wait = plan.failed(1, now);
  plan.ask(1, now + 100ms);
  EXPECT_EQ(plan.planned_at(1), now + wait) << "backing off";

  plan.unauthorized(1);
  plan.ask(1, now + 1s);
  EXPECT_EQ(plan.planned_at(1), std::nullopt) << "stopped";
}

TEST(refresh_plan, a_rejected_token_stops_that_bot_only) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 2, t0);
  auto now = t0;
  const auto reads = run(plan, now, t0 + 1h, [](refresh_plan& p, bot_key bot, auto at) {
    if (bot == 1)
      p.unauthorized(bot);
    else
      p.ok(bot, at, far_reset);
  });
  EXPECT_EQ(times_of(reads, 1).size(), 1u) << "never read again with a rejected token";
  EXPECT_EQ(times_of(reads, 2).size(), 12u) << "the other bot every 300 s";
  EXPECT_TRUE(plan.stopped(1));
  EXPECT_FALSE(plan.read_ok_once(1));
  EXPECT_FALSE(plan.stopped(2));
  EXPECT_TRUE(plan.read_ok_once(2));
  plan.ok(1, now, far_reset);
  EXPECT_EQ(plan.planned_at(1), std::nullopt) << "no outcome revives it";

  plan.remove(1);  // a reload with a new token
  ASSERT_TRUE(plan.add(1, now));
  EXPECT_FALSE(plan.stopped(1));
  EXPECT_EQ(plan.take_due(now), bot_key{1});
}

TEST(refresh_plan, a_removed_bot_is_not_read_again) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 3, t0);
  auto now = t0;
  run(plan, now, t0 + 1s);  // next: bot 3 at 200 s, bot 1 at 300 s, bot 2 at 400 s
  plan.remove(2);           // planned
  now = *plan.next_at();
  ASSERT_EQ(plan.take_due(now), bot_key{3});
  plan.remove(3);  // being read: its outcome comes too late
  plan.ok(3, now, far_reset);
  EXPECT_EQ(plan.size(), 1u);
  const auto reads = run(plan, now, t0 + 1h);
  EXPECT_EQ(times_of(reads, 1).size(), reads.size());
  EXPECT_EQ(reads.size(), 11u) << "bot 1 every 300 s from 300 s";
  plan.remove(1);
  EXPECT_EQ(plan.next_at(), std::nullopt);
  EXPECT_EQ(plan.size(), 0u);
}

TEST(refresh_plan, adding_a_known_bot_changes_nothing) {
  refresh_plan plan{{}, 1};
  add_bots(plan, 1, t0);
  ASSERT_EQ(plan.take_due(t0), bot_key{1});
  plan.ok(1, t0, far_reset);
  EXPECT_FALSE(plan.add(1, t0 + 1s));
  EXPECT_EQ(plan.planned_at(1), t0 + 300s);
  EXPECT_EQ(plan.size(), 1u);
}

// The one bot of a queue without a bots file is read as the single-bot limits scheduler did:
// at start, then every interval or a second after the reset, whichever comes first.
TEST(refresh_plan, a_single_bot_is_read_at_start_then_every_interval_or_after_its_reset) {
  refresh_plan plan{{}, 1};
  ASSERT_TRUE(plan.add(bot_key{0}, t0));
  EXPECT_EQ(plan.next_at(), t0);
  ASSERT_EQ(plan.take_due(t0), bot_key{0});
  plan.ok(0, t0, t0 + 24h);
  EXPECT_EQ(plan.next_at(), t0 + 300s);

  auto now = t0 + 300s;
  ASSERT_EQ(plan.take_due(now), bot_key{0});
  plan.ok(0, now, now + 10s);
  EXPECT_EQ(plan.next_at(), now + 11s) << "a second after the reset";

  now += 11s;
  ASSERT_EQ(plan.take_due(now), bot_key{0});
  plan.ok(0, now, now + 24h);
  EXPECT_EQ(plan.next_at(), t0 + 600s) << "back on its slot";
  EXPECT_TRUE(plan.read_ok_once(0));
}

TEST(refresh_plan, a_reset_reported_again_right_after_its_read_waits_for_the_slot) {
  refresh_plan plan{{}, 1};
  ASSERT_TRUE(plan.add(bot_key{0}, t0));
  ASSERT_EQ(plan.take_due(t0), bot_key{0});
  plan.ok(0, t0, t0 - 1s);  // a reset at hand: as the single-bot scheduler did, a second on
  auto now = t0 + 1s;
  EXPECT_EQ(plan.next_at(), now);
  ASSERT_EQ(plan.take_due(now), bot_key{0});
  plan.ok(0, now, now);  // still at hand: not a read every second
  EXPECT_EQ(plan.next_at(), t0 + 300s);

  now = t0 + 300s;
  ASSERT_EQ(plan.take_due(now), bot_key{0});
  plan.ok(0, now, now + 60s);
  EXPECT_EQ(plan.next_at(), now + 61s) << "the read for the next reset";
  now += 10s;
  plan.ask(0, now);  // remaining reached 0 before it
  ASSERT_EQ(plan.take_due(now), bot_key{0});
  plan.ok(0, now, now + 50s);
  EXPECT_EQ(plan.next_at(), now + 51s) << "the read asked for was not the one for the reset";
}

}  // namespace
}  // namespace gq
