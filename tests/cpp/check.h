// A tiny test harness: CHECK records a failure with file and line and the test keeps going; main returns
// the failure count so ctest reports it. No framework download needed.
#pragma once

#include <cmath>
#include <cstdio>

namespace y6test {
inline int failures = 0;
}

#define CHECK(cond)                                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++y6test::failures;                                                \
    }                                                                    \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                         \
  do {                                                                                                \
    double _a = (a), _b = (b);                                                                        \
    if (!(std::fabs(_a - _b) <= (tol))) {                                                             \
      std::fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g\n", __FILE__, __LINE__, #a, _a, #b, _b); \
      ++y6test::failures;                                                                             \
    }                                                                                                 \
  } while (0)

#define CHECK_THROWS(expr, Exc)        \
  do {                                 \
    bool _thrown = false;              \
    try {                              \
      expr;                            \
    } catch (const Exc&) {             \
      _thrown = true;                  \
    }                                  \
    CHECK(_thrown && #expr " throws " #Exc); \
  } while (0)

#define TEST_MAIN_RESULT()                                           \
  (std::fprintf(stderr, "%d failure(s)\n", y6test::failures), y6test::failures == 0 ? 0 : 1)
