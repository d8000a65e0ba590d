/* test_ops_rope.c — lb_rope (HF rotate-half layout) at several pos0:
 * forward against a double reference whose angle is the fp32 product the
 * spec prescribes, backward against finite differences. */
#include "ops_check.h"

typedef struct rope_params {
    int64_t B, T, H, hd, pos0;
    const float *inv_freq;
    bool double_angle;   /* angle p * inv_freq in double (not the spec) */
} rope_params;

static void ref_rope(const void *pp, double *const *in, double *out)
{
    const rope_params *p = pp;
    int64_t half = p->hd / 2;
    for (int64_t b = 0; b < p->B; b++)
        for (int64_t t = 0; t < p->T; t++)
            for (int64_t j = 0; j < half; j++) {
                float pf = (float)(p->pos0 + t);
                double th = p->double_angle ? (double)pf * p->inv_freq[j] : (double)(pf * p->inv_freq[j]);
                double c = cos(th), s = sin(th);
                for (int64_t h = 0; h < p->H; h++) {
                    int64_t o = ((b * p->T + t) * p->H + h) * p->hd;
                    double x1 = in[0][o + j], x2 = in[0][o + j + half];
                    out[o + j] = x1 * c - x2 * s;
                    out[o + j + half] = x2 * c + x1 * s;
                }
            }
}

static void make_inv_freq(float *inv_freq, int64_t hd)
{
    for (int64_t j = 0; j < hd / 2; j++)   /* base 10000, as transformers in fp32 */
        inv_freq[j] = (float)(1.0 / pow(10000.0, (double)(2 * j) / (double)hd));
}

static void check_rope(int64_t pos0)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    float inv_freq[5];
    make_inv_freq(inv_freq, 10);
    rope_params p = {.B = 2, .T = 3, .H = 3, .hd = 10, .pos0 = pos0, .inv_freq = inv_freq};
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(2, 3, 3, 10), 1 + (uint64_t)pos0, -1, 1, true);
    lb_tensor *y = lb_rope(&ctx, x, inv_freq, pos0);
    LB_EXPECT(lb_tensor_same_shape(x, y));
    /* cosf/sinf of the same fp32 angle (<= 1-2 ulp) and two products */
    opc_case c = {.ref = ref_rope, .params = &p, .n_in = 1, .in = {x}, .out = y,
                  .fwd_tol = opc_tol(2), .bwd_tol = opc_tol(2)};
    char what[32];
    snprintf(what, sizeof what, "rope pos0=%lld", (long long)pos0);
    opc_check(&ctx, &c, what);
    lb_ctx_free(&ctx);
}

static void test_rope_pos0(void)
{
    int64_t pos0s[] = {0, 1, 7, 509, 4093};
    for (int i = 0; i < 5; i++) check_rope(pos0s[i]);
}

/* at p ~ 1.2e5 the fp32 product p * inv_freq[0] differs from the double one
 * by up to half an ulp of ~1.2e5 (~4e-3 rad): lb_rope must follow the fp32
 * spec (as transformers does), and the double-angle reference must be
 * visibly different, or this test could not tell them apart */
static void test_rope_fp32_angle(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    float inv_freq[4];
    make_inv_freq(inv_freq, 8);
    rope_params p = {.B = 1, .T = 4, .H = 1, .hd = 8, .pos0 = 123457, .inv_freq = inv_freq};
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(1, 4, 1, 8), 9, -1, 1, false);
    lb_tensor *y = lb_rope(&ctx, x, inv_freq, p.pos0);
    double *in = opc_widen(x), ref32[32], ref64[32];
    ref_rope(&p, &in, ref32);
    p.double_angle = true;
    ref_rope(&p, &in, ref64);
    double e32 = lb_test_max_rel(y->data, ref32, 32, OPC_FLOOR);
    double e64 = lb_test_max_rel(y->data, ref64, 32, OPC_FLOOR);
    LB_EXPECTF(e32 <= opc_tol(2), "fp32-angle reference: rel err %.3g", e32);
    LB_EXPECTF(e64 > 1e-4, "the double-angle reference should differ, rel err only %.3g", e64);
    free(in);
    lb_ctx_free(&ctx);
}

/* the pair (x[j], x[j + hd/2]) rotates, not (x[2j], x[2j+1]): a unit vector
 * in slot 0 at angle theta lands on (cos, ..., sin) in slots 0 and hd/2 */
static void test_rope_layout(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    float inv_freq[3] = {0.5f, 0.25f, 0.125f};
    lb_tensor *x = lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(1, 1, 1, 6));
    ((float *)x->data)[0] = 1.0f;
    const float *y = lb_rope(&ctx, x, inv_freq, 2)->data;   /* theta = 2 * 0.5 = 1 */
    LB_EXPECTF(fabs(y[0] - cos(1.0)) < 1e-6 && fabs(y[3] - sin(1.0)) < 1e-6 && y[1] == 0.0f &&
                   y[2] == 0.0f && y[4] == 0.0f && y[5] == 0.0f,
               "rope of e0: %g %g %g %g %g %g", y[0], y[1], y[2], y[3], y[4], y[5]);
    lb_ctx_free(&ctx);
}

int main(void)
{
    LB_RUN(test_rope_pos0);
    LB_RUN(test_rope_fp32_angle);
    LB_RUN(test_rope_layout);
    return lb_test_summary();
}
