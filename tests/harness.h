/* harness.h — the small test harness every C test binary uses.
 *
 * A test file defines static test functions and a main() that calls
 * LB_RUN(fn) for each and returns lb_test_summary(): 0 when all passed, 1
 * when any failed, 77 (ctest's skip code) when every test skipped.
 * The summary prints "N passed, N failed, N skipped".
 */
#ifndef LB_TEST_HARNESS_H
#define LB_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

/* lb_test_fail: records a failure of the running test with a message. */
void lb_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* lb_test_skip: marks the running test skipped (call, then return). */
void lb_test_skip(const char *why);

void lb_test_run(const char *name, void (*fn)(void));
int lb_test_summary(void);

/* lb_test_max_rel: max |a-b| / max(max|b|, floor) over n elements. */
double lb_test_max_rel(const float *a, const double *b, int64_t n, double floor);

/* lb_test_rand: deterministic uniform floats in [lo, hi) from a seed. */
void lb_test_rand(float *x, int64_t n, uint64_t seed, float lo, float hi);

#define LB_RUN(fn) lb_test_run(#fn, fn)
#define LB_EXPECT(cond)                                              \
    do {                                                             \
        if (!(cond)) lb_test_fail(__FILE__, __LINE__, "%s", #cond);  \
    } while (0)
#define LB_EXPECTF(cond, ...)                                        \
    do {                                                             \
        if (!(cond)) lb_test_fail(__FILE__, __LINE__, __VA_ARGS__);  \
    } while (0)

#endif
