/* test_ops_softmax.c — lb_softmax over the last dim: forward against a
 * double reference (including large logits), backward against finite
 * differences. */
#include "ops_check.h"

typedef struct sm_params {
    int64_t rows, C;
} sm_params;

static void ref_softmax(const void *pp, double *const *in, double *out)
{
    const sm_params *p = pp;
    for (int64_t r = 0; r < p->rows; r++) {
        const double *x = in[0] + r * p->C;
        double mx = -INFINITY, s = 0.0;
        for (int64_t c = 0; c < p->C; c++) mx = fmax(mx, x[c]);
        for (int64_t c = 0; c < p->C; c++) s += exp(x[c] - mx);
        for (int64_t c = 0; c < p->C; c++) out[r * p->C + c] = exp(x[c] - mx) / s;
    }
}

static void check_softmax(float lo, float hi, const char *what)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    sm_params p = {.rows = 3 * 7, .C = 13};
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(3, 7, 13), 5, lo, hi, true);
    lb_tensor *y = lb_softmax(&ctx, x);
    /* expf of (x - max): the fp32 rounding of x - max is amplified by
     * |x - max| ~ (hi - lo) in exp; the sum runs over C */
    double amp = fmax(1.0, (double)(hi - lo));
    opc_case c = {.ref = ref_softmax, .params = &p, .n_in = 1, .in = {x}, .out = y,
                  .fwd_tol = amp * opc_tol(p.C), .bwd_tol = amp * opc_tol(2 * p.C)};
    opc_check(&ctx, &c, what);
    lb_ctx_free(&ctx);
}

static void test_softmax(void) { check_softmax(-3, 3, "softmax"); }
/* logits near 1e4 overflow a naive exp; the max-subtracted form is exact
 * there because x - max is exact for floats this close */
static void test_softmax_large(void) { check_softmax(9990, 10000, "softmax of logits ~1e4"); }

static void test_softmax_rows_sum_to_one(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(64, 37), 6, -30, 30, false);
    const float *y = lb_softmax(&ctx, x)->data;
    for (int r = 0; r < 64; r++) {
        double s = 0.0;
        for (int c = 0; c < 37; c++) s += y[r * 37 + c];
        LB_EXPECTF(fabs(s - 1.0) <= opc_tol(37), "row %d sums to %.9f", r, s);
    }
    lb_ctx_free(&ctx);
}

int main(void)
{
    LB_RUN(test_softmax);
    LB_RUN(test_softmax_large);
    LB_RUN(test_softmax_rows_sum_to_one);
    return lb_test_summary();
}
