/* harness.c — counting, reporting and helpers for the C tests. */
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int g_passed, g_failed, g_skipped;      /* test-binary state only */
static int g_cur_failed, g_cur_skipped;
static const char *g_cur_name;

void lb_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  FAIL %s (%s:%d): ", g_cur_name ? g_cur_name : "?", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    g_cur_failed++;
}

void lb_test_skip(const char *why)
{
    fprintf(stderr, "  SKIP %s: %s\n", g_cur_name, why);
    g_cur_skipped = 1;
}

void lb_test_run(const char *name, void (*fn)(void))
{
    g_cur_name = name;
    g_cur_failed = 0;
    g_cur_skipped = 0;
    fn();
    if (g_cur_failed) {
        g_failed++;
        printf("[FAIL] %s\n", name);
    } else if (g_cur_skipped) {
        g_skipped++;
        printf("[SKIP] %s\n", name);
    } else {
        g_passed++;
        printf("[ ok ] %s\n", name);
    }
    fflush(stdout);
}

int lb_test_summary(void)
{
    printf("%d passed, %d failed, %d skipped\n", g_passed, g_failed, g_skipped);
    if (g_failed) return 1;
    if (g_passed == 0 && g_skipped > 0) return 77;
    return 0;
}

double lb_test_max_rel(const float *a, const double *b, int64_t n, double floor)
{
    double maxdiff = 0, maxref = floor;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > maxdiff || isnan(d)) maxdiff = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > maxref) maxref = fabs(b[i]);
    }
    return maxdiff / maxref;
}

void lb_test_rand(float *x, int64_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u = (double)(s >> 11) / 9007199254740992.0;
        x[i] = lo + (float)(u * (hi - lo));
    }
}
