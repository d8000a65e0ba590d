/* test_gpu_rope.c — CUDA RoPE against the CPU fp32 op, forward and
 * backward, for head dims 10, 64 and 128 (hd/2 = 5: not a multiple of
 * anything), several (B, T, H), and positions from 0 and from 100000 (the
 * KV-cache offset; large angles where cosf/sinf must reduce exactly).
 *
 * Tolerances (gpu_ops_check.h: relative to the largest CPU value): the same
 * fp32 angle (float)p * inv_freq[j] on both devices; CUDA's cosf/sinf and
 * glibc's are both within ~1-2 ulp of the true value of that angle, so the
 * rotated values agree to ~4 2^-24; then one rounding to bf16 (at most
 * u = 2^-8, bf16's unit roundoff) of the output, or of the grad after
 * adding the preseed. GR_TOL = 2u.
 *
 * Head dims 64 and 128 take the 8-pairs-per-thread path (hd/2 a multiple
 * of 8), 10 the one-pair path; each case runs once accumulating into a
 * preseeded grad and once with no grad yet (fresh: CUDA writes the new
 * grad over poisoned memory, the CPU starts from zero).
 */
#include "gpu_ops_check.h"

#define GR_TOL (2.0 / 256)

static void check_rope(int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0, bool fresh,
                       uint64_t seed)
{
    char what[128];
    int64_t n = B * T * H * hd;
    float *x = gx_rand(n, seed, -2, 2), *dy = gx_rand(n, seed + 1, -1, 1);
    float *sd = gx_rand(n, seed + 2, -0.5f, 0.5f);
    float *inv = malloc((size_t)(hd / 2) * sizeof *inv);
    for (int64_t j = 0; j < hd / 2; j++) inv[j] = powf(10000.0f, -2.0f * (float)j / (float)hd);
    lb_ctx c, g;
    gx_ctx(&c, LB_CPU);
    gx_ctx(&g, LB_CUDA);
    gx_poison(&g);
    lb_tensor *xc = gx_tensor(&c, LB_CPU, LB_F32, x, LB_SHAPE(B, T, H, hd), true);
    lb_tensor *xg = gx_tensor(&g, LB_CUDA, LB_BF16, x, LB_SHAPE(B, T, H, hd), true);
    lb_tensor *yc = lb_rope(&c, xc, inv, pos0), *yg = lb_rope(&g, xg, inv, pos0);
    for (int64_t j = 0; j < hd / 2; j++) inv[j] = NAN;   /* the op must have copied it */
    if (!fresh) {
        gx_preseed(&c, xc, sd);
        gx_preseed(&g, xg, sd);
    }
    gx_backward(&c, yc, dy);
    gx_backward(&g, yg, dy);
    snprintf(what, sizeof what, "rope (%lld, %lld, %lld, %lld) pos0 %lld: out", (long long)B,
             (long long)T, (long long)H, (long long)hd, (long long)pos0);
    gx_expect(&g, yg, &c, yc, GR_TOL, what);
    snprintf(what, sizeof what, "rope (%lld, %lld, %lld, %lld) pos0 %lld: dx%s", (long long)B,
             (long long)T, (long long)H, (long long)hd, (long long)pos0, fresh ? " (fresh)" : "");
    gx_expect(&g, xg->grad, &c, xc->grad, GR_TOL, what);
    lb_ctx_free(&c);
    lb_ctx_free(&g);
    free(x);
    free(dy);
    free(sd);
    free(inv);
}

static void test_rope(void)
{
    if (!gx_have_gpu()) return;
    uint64_t seed = 1;
    const int64_t pos[] = {0, 100000};
    for (int k = 0; k < 2; k++)
        for (int fresh = 0; fresh < 2; fresh++) {
            check_rope(2, 7, 3, 10, pos[k], fresh, seed += 3);
            check_rope(1, 33, 4, 64, pos[k], fresh, seed += 3);
            check_rope(3, 5, 2, 128, pos[k], fresh, seed += 3);
            check_rope(1, 1, 1, 64, pos[k], fresh, seed += 3);
        }
}

int main(void)
{
    LB_RUN(test_rope);
    return lb_test_summary();
}
