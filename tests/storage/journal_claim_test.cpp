// claim_journal (storage/journal.hpp): a standby's way in to a journal another process holds.
// On PostgreSQL the claim waits on one session (the database sees one idle login, not one per
// try), that session becomes the writer once the lock frees, and a session the database ended is
// opened anew.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/journal.hpp"
#include "support/postgres_server.hpp"
#include "test_support.hpp"

namespace gq::storage {
namespace {

using gq::testing::postgres_server;

constexpr journal_options k_writer{durability::full, integrity_check::at_open, true};

class journal_claim_test : public ::testing::Test {
 protected:
  // The server ends a closed session's backend (and frees its locks) a moment after the client
  // hangs up: tries until the claim wins, for at most 5 s.
  static std::unique_ptr<journal> take(journal_claim& claim) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
    for (;;) {
      if (auto journal = claim.try_open()) return journal;
      if (std::chrono::steady_clock::now() >= deadline) return nullptr;
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }

  // The backends of the journal's database that last asked for the journal's lock: the sessions
  // a claim is trying on.
  std::vector<std::string> lock_askers() {
    return server_.admin("SELECT pid FROM pg_stat_activity WHERE datname = '" + database_ +
                         "' AND query LIKE '%pg_try_advisory_lock(%'");
  }
  // Every session of the journal's database since the cluster started (the admin queries run in
  // another database).
  long sessions() {
    return std::stol(server_
                         .admin("SELECT pg_stat_force_next_flush(); SELECT sessions FROM "
                                "pg_stat_database WHERE datname = '" +
                                database_ + "'")
                         .front());
  }

  postgres_server& server_ = postgres_server::shared();
  std::string database_ = server_.create_database();
  std::string uri_ = server_.uri(database_);
};

TEST_F(journal_claim_test, a_claim_waits_on_one_session_and_takes_the_journal_when_it_frees) {
  auto active = open_journal(uri_, k_writer);
  active->record_releases(std::vector<release_record>{{7, 1, 0, 1, 0}});
  auto claim = claim_journal(uri_, k_writer);
  std::set<std::string> askers;
  for (int attempt = 0; attempt < 5; ++attempt) {
    EXPECT_EQ(claim->try_open(), nullptr) << "another process holds the journal";
    for (const std::string& pid : lock_askers()) askers.insert(pid);
  }
  EXPECT_EQ(askers.size(), 1u) << "every try on one session";

  active.reset();  // its sessions end, and the lock with them
  auto taken = take(*claim);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(taken->recover().last_release_at, 7);
  EXPECT_THROW(open_journal(uri_, k_writer), journal_taken) << "the claim's session holds it";
}

TEST_F(journal_claim_test, the_sessions_a_waiting_claim_opens_do_not_grow_with_its_tries) {
  auto active = open_journal(uri_, k_writer);
  auto claim = claim_journal(uri_, k_writer);
  EXPECT_EQ(claim->try_open(), nullptr);
  const long before = sessions();
  for (int attempt = 0; attempt < 10; ++attempt) EXPECT_EQ(claim->try_open(), nullptr);
  // At most the claim's own session, whose login the database may count late.
  EXPECT_LE(sessions() - before, 1);
}

TEST_F(journal_claim_test, a_session_the_database_ended_is_opened_anew) {
  auto active = open_journal(uri_, k_writer);
  auto claim = claim_journal(uri_, k_writer);
  EXPECT_EQ(claim->try_open(), nullptr);
  const auto asker = lock_askers();
  ASSERT_EQ(asker.size(), 1u);
  server_.admin("SELECT pg_terminate_backend(" + asker.front() + ")");
  // pg_terminate_backend only signals the backend: wait until it is gone.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (!server_.admin("SELECT pid FROM pg_stat_activity WHERE pid = " + asker.front()).empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  // The first try after sees the ended session (and says so); the next one connects anew.
  EXPECT_THROW(claim->try_open(), journal_error);
  EXPECT_EQ(claim->try_open(), nullptr);
  active.reset();
  EXPECT_NE(take(*claim), nullptr);
}

TEST_F(journal_claim_test, a_claim_on_a_sqlite_file_opens_it) {
  testing::temp_dir dir;
  auto claim = claim_journal(dir.file("journal.db"), k_writer);
  auto journal = claim->try_open();
  ASSERT_NE(journal, nullptr);
  EXPECT_FALSE(journal->recover().last_release_at);
}

}  // namespace
}  // namespace gq::storage
