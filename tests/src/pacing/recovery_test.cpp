#include "src/pacing/recovery.hpp"

#include <gtest/gtest.h>

namespace gq {
namespace {

using namespace std::chrono_literals;

constexpr unix_ms t0 = 1'800'000'000'000;
const auto gap = (5000ms + k_recovery_margin).count();

TEST(resume_times, fresh_journal_grants_at_once) {
  recovery_state recovered;
  EXPECT_EQ(resume_times(recovered, 4, 5000ms), (std::vector<unix_ms>{0, 0, 0, 0}));
}

TEST(resume_times, each_bucket_waits_for_its_own_last_grant) {
  recovery_state recovered;
  recovered.last_release_at = t0 + 300;
  recovered.last_max_concurrency = 3;
  recovered.last_release_by_bucket = {t0 + 100, std::nullopt, t0 + 300};
  EXPECT_EQ(resume_times(recovered, 3, 5000ms),
            (std::vector<unix_ms>{t0 + 100 + gap, 0, t0 + 300 + gap}));
}

TEST(resume_times, changed_max_concurrency_waits_for_the_last_grant_of_any_bucket) {
  recovery_state recovered;
  recovered.last_release_at = t0 + 300;
  recovered.last_max_concurrency = 2;
  recovered.last_release_by_bucket = {t0 + 100, t0 + 300};
  EXPECT_EQ(resume_times(recovered, 4, 5000ms), (std::vector<unix_ms>(4, t0 + 300 + gap)));
}

}  // namespace
}  // namespace gq
