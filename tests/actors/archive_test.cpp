// History queries and retention through the archive actor, on CAF's test coordinator.
#include "actors/archive.hpp"

#include "actor_fixture.hpp"

namespace gq::testing {
namespace {

class archive_flow : public actor_fixture {
 protected:
  static constexpr unix_ms k_day = 24 * 3600 * 1000;

  void journal_grants(std::initializer_list<std::pair<unix_ms, std::uint64_t>> grants) {
    storage::sqlite_journal journal{db_path_, storage::durability::normal};
    std::vector<release_record> rows;
    for (auto [at, shard] : grants) rows.push_back({at, shard, 0, 1, 0});
    journal.record_releases(rows);
  }

  void start_archive(std::chrono::hours retention, bool prune_at_start = true) {
    auto journal = std::make_shared<storage::sqlite_journal>(db_path_, storage::durability::normal);
    archive_ = spawn_archive(system_,
                             {.journal = journal,
                              .retention = retention,
                              .prune_every = std::chrono::minutes{60},
                              .anchor = anchor_,
                              .prune_at_start = prune_at_start},
                             actor_thread::scheduler);
    sched_.run();
  }

  ~archive_flow() override {
    if (archive_) caf::anon_send_exit(archive_, caf::exit_reason::user_shutdown);
    sched_.run();
  }

  archive_actor archive_;
};

TEST_F(archive_flow, prunes_grants_older_than_the_retention_at_start) {
  journal_grants(
      {{k_wall_start - 3 * k_day, 1}, {k_wall_start - 2 * k_day + 1, 2}, {k_wall_start - 1000, 3}});
  start_archive(std::chrono::hours{48});
  const auto rows = journal_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].shard, 3u);
  EXPECT_EQ(rows[1].shard, 2u);
}

TEST_F(archive_flow, prunes_again_every_interval) {
  journal_grants({{k_wall_start - 1000, 1}});
  start_archive(std::chrono::hours{1});
  EXPECT_EQ(journal_rows().size(), 1u);
  advance(std::chrono::minutes{60});
  EXPECT_EQ(journal_rows().size(), 0u) << "an hour later the grant is past the retention";
}

// The server starts retention only once the journal passed its integrity check: pruning writes.
TEST_F(archive_flow, without_prune_at_start_retention_waits_for_the_first_prune_message) {
  journal_grants({{k_wall_start - 3 * k_day, 1}, {k_wall_start - 1000, 2}});
  start_archive(std::chrono::hours{48}, false);
  advance(std::chrono::minutes{90});
  EXPECT_EQ(journal_rows().size(), 2u) << "nothing pruned before the prune message";
  caf::anon_send(archive_, prune_atom::value);
  sched_.run();
  const auto rows = journal_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].shard, 2u);
}

TEST_F(archive_flow, answers_history_queries_newest_first_with_filters) {
  journal_grants({{k_wall_start - 3000, 1}, {k_wall_start - 2000, 2}, {k_wall_start - 1000, 1}});
  start_archive(std::chrono::hours{24});
  history_filter filter;
  filter.shard = 1;
  const auto rows =
      ask<std::vector<release_record>>(archive_, history_atom::value, history_query::from(filter));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (release_record{k_wall_start - 1000, 1, 0, 1, 0}));
  EXPECT_EQ(rows[1], (release_record{k_wall_start - 3000, 1, 0, 1, 0}));
}

}  // namespace
}  // namespace gq::testing
