#include "src/pacing/grant_writer.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace gq {
namespace {

using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;

// A fake clock: tests move time by hand; a sleep of the writer moves it too.
const time_point t0 = time_point{} + 1000h;

struct test_grant {
  std::uint64_t waiter_id = 0;
  time_point due;
  std::string bucket;
};

// Everything the writer does through its port, in order, with the fake time it happened at.
struct fake_port {
  time_point clock = t0;
  std::vector<std::string> log;
  std::vector<time_point> timers;  // set_timer instants, in order
  std::optional<time_point::duration> report_timer;
  std::set<std::uint64_t> gone;        // waiters whose clients left
  std::set<std::uint64_t> unfinished;  // writes the socket does not take whole

  std::string at(time_point t) const {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t - t0).count());
  }
  time_point now() const { return clock; }
  void sleep_until(time_point t) {
    log.push_back("sleep " + at(t));
    clock = std::max(clock, t);
  }
  void set_timer(time_point t) { timers.push_back(t); }
  void set_report_timer(time_point::duration d) { report_timer = d; }
  bool live(const test_grant& g) const { return gone.count(g.waiter_id) == 0; }
  bool write(const test_grant& g) {
    log.push_back("write " + std::to_string(g.waiter_id) + " @" + at(clock));
    return unfinished.count(g.waiter_id) == 0;
  }
  void refuse(const test_grant& g, grant_refusal why) {
    log.push_back(std::string{why == grant_refusal::late ? "late " : "stopping "} +
                  std::to_string(g.waiter_id) + " @" + at(clock));
  }
  void give_back(const test_grant& g) {
    log.push_back("give back " + std::to_string(g.waiter_id) + " to " + g.bucket);
  }
  void report(const std::string& bucket, std::uint64_t id, time_point sent_at) {
    log.push_back("sent " + std::to_string(id) + " to " + bucket + " @" + at(sent_at));
  }
  void dropped_late(std::size_t n) { log.push_back("dropped late " + std::to_string(n)); }
};

using writer_type = grant_writer<test_grant, fake_port>;
using log_type = std::vector<std::string>;

struct grant_writer_test : ::testing::Test {
  fake_port port;
  grant_writer_timing timing;  // the edge's: 3 ms lead, 4 ms of sleep per pass, 5 ms report delay
  writer_type writer{port, timing};

  // What the edge does when the timer it was asked for fires: the clock is then at least there.
  void fire_timer() {
    ASSERT_FALSE(port.timers.empty()) << "no timer was set";
    port.clock = std::max(port.clock, port.timers.back());
    port.timers.clear();
    writer.on_timer();
  }
  log_type take_log() { return std::exchange(port.log, {}); }
};

TEST_F(grant_writer_test, wakes_a_lead_ahead_and_sleeps_out_the_rest_never_writing_early) {
  writer.hold({1, t0 + 100ms, "b0"});
  EXPECT_TRUE(port.log.empty()) << "nothing is due yet";
  ASSERT_EQ(port.timers, (std::vector<time_point>{t0 + 97ms})) << "the timer lead is 3 ms";
  fire_timer();
  EXPECT_EQ(take_log(), (log_type{"sleep 100", "write 1 @100", "sent 1 to b0 @100"}));
}

TEST_F(grant_writer_test, a_grant_due_already_is_written_at_once) {
  port.clock = t0 + 50ms;
  writer.hold({1, t0 + 40ms, "b0"});
  EXPECT_EQ(take_log(), (log_type{"write 1 @50", "sent 1 to b0 @50"}));
  EXPECT_TRUE(port.timers.empty());
}

TEST_F(grant_writer_test, another_event_writes_a_grant_that_fell_due_and_nothing_before) {
  writer.hold({1, t0 + 10ms, "b0"});
  port.clock = t0 + 9ms;
  writer.on_event();
  EXPECT_TRUE(port.log.empty()) << "one millisecond early is early";
  port.clock = t0 + 10ms;
  writer.on_event();
  EXPECT_EQ(take_log(), (log_type{"write 1 @10", "sent 1 to b0 @10"}));
}

TEST_F(grant_writer_test, one_pass_writes_what_is_due_within_its_sleep_budget_and_reports_after) {
  writer.hold({1, t0 + 10ms, "b0"});
  writer.hold({2, t0 + 10ms, "b1"});
  writer.hold({3, t0 + 11ms, "b2"});
  writer.hold({4, t0 + 20ms, "b3"});  // beyond the lead: the next timer's
  fire_timer();                       // at 7 ms
  EXPECT_EQ(take_log(),
            (log_type{"sleep 10", "write 1 @10", "write 2 @10", "sleep 11", "write 3 @11",
                      "sent 1 to b0 @10", "sent 2 to b1 @10", "sent 3 to b2 @11"}));
  EXPECT_EQ(port.timers, (std::vector<time_point>{t0 + 17ms}));
  fire_timer();
  EXPECT_EQ(take_log(), (log_type{"sleep 20", "write 4 @20", "sent 4 to b3 @20"}));
}

TEST_F(grant_writer_test, a_pass_sleeps_at_most_its_budget) {
  writer.hold({1, t0 + 10ms, "b0"});
  writer.hold({2, t0 + 13ms, "b1"});
  fire_timer();  // at 7 ms: sleeps 3 ms to the first; 3 more would exceed the 4 ms budget
  EXPECT_EQ(take_log(), (log_type{"sleep 10", "write 1 @10", "sent 1 to b0 @10"}));
  EXPECT_EQ(port.timers, (std::vector<time_point>{t0 + 10ms})) << "the rest at the next timer";
}

TEST_F(grant_writer_test, a_late_timer_writes_everything_due_earliest_first) {
  writer.hold({2, t0 + 20ms, "b1"});
  writer.hold({1, t0 + 10ms, "b0"});
  port.clock = t0 + 30ms;  // the process was busy
  writer.on_timer();
  EXPECT_EQ(take_log(),
            (log_type{"write 1 @30", "write 2 @30", "sent 1 to b0 @30", "sent 2 to b1 @30"}));
}

TEST_F(grant_writer_test, a_grant_past_the_late_limit_is_refused_and_counts_from_now) {
  timing.late_limit = 50ms;
  writer_type limited{port, timing};
  limited.hold({1, t0 + 10ms, "b0"});
  limited.hold({2, t0 + 40ms, "b1"});
  port.clock = t0 + 90ms;  // 80 ms past the first (refused), 50 ms past the second (written)
  limited.on_timer();
  EXPECT_EQ(take_log(), (log_type{"late 1 @90", "write 2 @90", "dropped late 1", "sent 1 to b0 @90",
                                  "sent 2 to b1 @90"}));
}

TEST_F(grant_writer_test, without_a_late_limit_a_late_grant_is_written_late) {
  writer.hold({1, t0 + 10ms, "b0"});
  port.clock = t0 + 10s;
  writer.on_timer();
  EXPECT_EQ(take_log(), (log_type{"write 1 @10000", "sent 1 to b0 @10000"}));
}

TEST_F(grant_writer_test, a_hang_up_gives_the_held_grant_back_unwritten) {
  writer.hold({1, t0 + 10ms, "b0"});
  EXPECT_TRUE(writer.holds(1));
  EXPECT_TRUE(writer.give_back(1));
  EXPECT_FALSE(writer.give_back(1)) << "given back once";
  port.clock = t0 + 20ms;
  writer.on_timer();
  EXPECT_EQ(take_log(), (log_type{"give back 1 to b0"})) << "never written, never reported";
}

TEST_F(grant_writer_test, a_waiter_gone_unseen_at_write_time_gets_its_grant_back) {
  writer.hold({1, t0 + 10ms, "b0"});
  port.gone.insert(1);
  port.clock = t0 + 10ms;
  writer.on_event();
  EXPECT_EQ(take_log(), (log_type{"give back 1 to b0"}));
}

TEST_F(grant_writer_test, stopping_refuses_grants_not_yet_due_counting_them_from_their_due) {
  writer.hold({1, t0 + 10ms, "b0"});
  writer.hold({2, t0 + 20ms, "b1"});
  writer.stop();
  EXPECT_EQ(take_log(),
            (log_type{"sent 1 to b0 @10", "stopping 1 @0", "sent 2 to b1 @20", "stopping 2 @0"}));
  writer.hold({3, t0 + 30ms, "b2"});
  EXPECT_EQ(take_log(), (log_type{"sent 3 to b2 @30", "stopping 3 @0"}))
      << "held after the stop: refused too";
  writer.hold({4, t0, "b3"});
  EXPECT_EQ(take_log(), (log_type{"write 4 @0", "sent 4 to b3 @0"}))
      << "due already: it may still leave";
  port.clock = t0 + 40ms;
  writer.on_timer();
  EXPECT_TRUE(port.log.empty()) << "nothing left to write";
}

TEST_F(grant_writer_test, reports_wait_for_a_write_the_socket_did_not_take_whole) {
  port.unfinished.insert(1);
  writer.hold({1, t0 + 10ms, "b0"});
  writer.hold({2, t0 + 10ms, "b1"});
  fire_timer();
  EXPECT_EQ(take_log(), (log_type{"sleep 10", "write 1 @10", "write 2 @10"}))
      << "b1's report waits while b0's write is in flight";
  port.clock = t0 + 11ms;
  writer.write_finished("b0", 1);
  EXPECT_EQ(take_log(), (log_type{"sent 2 to b1 @10", "sent 1 to b0 @11"}));
}

TEST_F(grant_writer_test, a_write_in_flight_holds_reports_at_most_the_report_delay) {
  port.unfinished.insert(1);
  writer.hold({1, t0 + 10ms, "b0"});
  fire_timer();
  take_log();
  writer.hold({2, t0 + 10ms, "b1"});  // due: written at once, its report waits
  EXPECT_EQ(take_log(), (log_type{"write 2 @10"}));
  ASSERT_EQ(port.report_timer, timing.max_report_delay);
  writer.on_report_timer();
  EXPECT_EQ(take_log(), (log_type{"sent 2 to b1 @10"}));
}

TEST_F(grant_writer_test, a_lost_journal_abandons_every_held_grant_silently) {
  writer.hold({1, t0 + 10ms, "b0"});
  writer.hold({2, t0 + 11ms, "b1"});
  EXPECT_EQ(writer.abandon().size(), 2u);
  port.clock = t0 + 20ms;
  writer.on_timer();
  EXPECT_TRUE(port.log.empty()) << "another queue may grant in these buckets now";
}

}  // namespace
}  // namespace gq
