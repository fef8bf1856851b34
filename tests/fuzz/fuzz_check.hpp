#pragma once
// An invariant check for fuzz targets: a violated invariant aborts with a message, which
// libFuzzer reports as a crash and saves the input that caused it.

#include <cstdio>
#include <cstdlib>

#define GQ_FUZZ_CHECK(condition, what)                                                    \
  do {                                                                                    \
    if (!(condition)) {                                                                   \
      std::fprintf(stderr, "invariant violated: %s (%s:%d)\n", what, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (false)
