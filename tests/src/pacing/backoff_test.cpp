#include "src/pacing/backoff.hpp"

#include <gtest/gtest.h>

namespace gq {
namespace {

using namespace std::chrono_literals;

TEST(backoff, grows_and_stays_within_jittered_bounds) {
  backoff policy{1000ms, 60000ms, 42};
  std::chrono::milliseconds ceiling = 1000ms;
  for (int attempt = 0; attempt < 12; ++attempt) {
    const auto wait = policy.next();
    EXPECT_GE(wait, ceiling / 2) << "attempt " << attempt;
    EXPECT_LE(wait, ceiling) << "attempt " << attempt;
    ceiling = std::min(ceiling * 2, std::chrono::milliseconds{60000});
  }
}

TEST(backoff, never_exceeds_the_cap) {
  backoff policy{1000ms, 30000ms, 7};
  for (int attempt = 0; attempt < 100; ++attempt) EXPECT_LE(policy.next(), 30000ms);
}

TEST(backoff, reset_starts_over) {
  backoff policy{1000ms, 60000ms, 1};
  for (int attempt = 0; attempt < 5; ++attempt) policy.next();
  policy.reset();
  EXPECT_LE(policy.next(), 1000ms);
}

}  // namespace
}  // namespace gq
