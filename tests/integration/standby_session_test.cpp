// A standby's cost to the database, through the real binary: while another queue is active it
// keeps one session and asks for the journal's lock again on it, instead of logging in for every
// try (five a second), and that session is the one that takes over. Sessions are counted by
// PostgreSQL itself (pg_stat_database.sessions, every login to the database).

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "integration/clients.hpp"
#include "integration/failover_support.hpp"
#include "integration/server_process.hpp"
#include "support/postgres_server.hpp"

namespace gq::integration {
namespace {

using namespace failover;
using gq::testing::postgres_server;

long sessions_of(postgres_server& postgres, const std::string& database) {
  return std::stol(
      postgres.admin("SELECT sessions FROM pg_stat_database WHERE datname = '" + database + "'")
          .front());
}

TEST(standby, waits_on_one_database_session_and_takes_over_on_it) {
  constexpr auto k_window = 2s;  // ten tries of a standby (one every 200 ms)
  postgres_server& postgres = postgres_server::shared();
  const std::string database = postgres.create_database();
  server_process active{{"QUEUE_DB", postgres.uri(database)}};
  ASSERT_TRUE(active.start());
  ASSERT_TRUE(wait_for_active({active.port()}, 10s)) << active.output();
  // The active queue's logins are counted once its sessions have reported their statistics:
  // wait until the count holds still for half a second.
  long before = sessions_of(postgres, database);
  for (const auto deadline = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(500ms);
    const long now = sessions_of(postgres, database);
    if (now == before) break;
    before = now;
  }

  server_process standby{{"QUEUE_DB", postgres.uri(database)}};
  ASSERT_TRUE(standby.start());
  ASSERT_EQ(http_get(standby.port(), "/ready").status, 503) << standby.output();
  std::this_thread::sleep_for(k_window);
  const long opened = sessions_of(postgres, database) - before;
  std::cout << "sessions opened by a standby in " << k_window.count() << " s: " << opened << "\n";
  EXPECT_LE(opened, 1) << "one session for the whole wait";

  active.kill9();
  const auto took_over = wait_for_active({0, standby.port()}, 10s);
  ASSERT_TRUE(took_over) << standby.output();
  EXPECT_LE(sessions_of(postgres, database) - before, 4)
      << "the waiting session became the writer; the reader and the check add one each (and "
         "one to spare for a login the database counts late)";
}

}  // namespace
}  // namespace gq::integration
