#pragma once
// Checks that a broken precondition stops the process: contracts are assert()s, active in Debug
// and sanitizer builds (CMakeLists.txt). In a build without them (NDEBUG) the test is skipped, not
// passed, so a run that did not check the contract says so.

#include <gtest/gtest.h>

#ifdef NDEBUG
#define GQ_EXPECT_CONTRACT_VIOLATION(statement, message) \
  GTEST_SKIP() << "contracts are checked only in builds without NDEBUG"
#else
// "threadsafe": the child re-runs the test binary instead of forking a process that may have
// threads (CAF's, a sanitizer's).
#define GQ_EXPECT_CONTRACT_VIOLATION(statement, message) \
  do {                                                   \
    GTEST_FLAG_SET(death_test_style, "threadsafe");      \
    EXPECT_DEATH(statement, message);                    \
  } while (false)
#endif
