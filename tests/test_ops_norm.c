/* test_ops_norm.c — lb_rmsnorm and lb_layernorm (with and without bias,
 * and far from zero mean): forward against a double reference, backward
 * against finite differences; lb_add_rmsnorm against lb_add then
 * lb_rmsnorm. */
#include <omp.h>

#include "ops_check.h"

typedef struct norm_params {
    int64_t rows, C;
    double eps;
    bool layer, bias;
} norm_params;

static void ref_norm(const void *pp, double *const *in, double *out)
{
    const norm_params *p = pp;
    for (int64_t r = 0; r < p->rows; r++) {
        const double *x = in[0] + r * p->C;
        double mu = 0.0, ms = 0.0;
        if (p->layer) {
            for (int64_t c = 0; c < p->C; c++) mu += x[c];
            mu /= (double)p->C;
        }
        for (int64_t c = 0; c < p->C; c++) ms += (x[c] - mu) * (x[c] - mu);
        double rs = 1.0 / sqrt(ms / (double)p->C + p->eps);
        for (int64_t c = 0; c < p->C; c++)
            out[r * p->C + c] = (x[c] - mu) * rs * in[1][c] + (p->bias ? in[2][c] : 0.0);
    }
}

/* x (3, 5, 37) in [lo, lo + 2); w in [0.5, 1.5) */
static void check_norm(bool layer, bool bias, float lo, const char *what)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    norm_params p = {.rows = 15, .C = 37, .eps = 1e-5, .layer = layer, .bias = bias};
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(3, 5, 37), 1, lo, lo + 2.0f, true);
    lb_tensor *w = opc_rand(&ctx, LB_SHAPE(37), 2, 0.5f, 1.5f, true);
    lb_tensor *b = bias ? opc_rand(&ctx, LB_SHAPE(37), 3, -1, 1, true) : NULL;
    lb_tensor *out = layer ? lb_layernorm(&ctx, x, w, b, 1e-5f) : lb_rmsnorm(&ctx, x, w, 1e-5f);
    LB_EXPECT(lb_tensor_same_shape(out, x));
    /* forward: statistics over C (accumulated in double, then a few fp32
     * ops); backward: dx reduces over C, dw and db over rows. LayerNorm
     * rounds the mean to fp32 (error u |mean|) before x - mean, and rstd
     * amplifies that by 1 / std: an extra 4 u |mean| / std, with std =
     * 2 / sqrt(12) for uniform x on a width-2 interval. */
    double shift = layer ? 4.0 * OPC_U32 * fabs(lo + 1.0) / (2.0 / sqrt(12.0)) : 0.0;
    opc_case c = {.ref = ref_norm, .params = &p, .n_in = bias ? 3 : 2, .in = {x, w, b}, .out = out,
                  .fwd_tol = opc_tol(8) + shift, .bwd_tol = opc_tol(p.C + p.rows) + shift};
    opc_check(&ctx, &c, what);
    lb_ctx_free(&ctx);
}

static void test_rmsnorm(void) { check_norm(false, false, -1.0f, "rmsnorm"); }
static void test_rmsnorm_positive(void) { check_norm(false, false, 0.5f, "rmsnorm of positive x"); }
static void test_layernorm(void) { check_norm(true, true, -1.0f, "layernorm"); }
static void test_layernorm_no_bias(void) { check_norm(true, false, -1.0f, "layernorm without bias"); }
/* mean 101, std ~0.6: a one-pass fp32 E[x^2] - E[x]^2 (error ~u 1e4 on a
 * variance of 0.33, ~1e-3 relative) would fail this */
static void test_layernorm_offset(void) { check_norm(true, true, 100.0f, "layernorm, mean 101"); }

/* HF Llama's order: weight * (x * rsqrt(mean(x^2) + eps)); a row of equal
 * values gives exactly w * x / sqrt(x^2 + eps) */
static void test_rmsnorm_eps(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *x = lb_tensor_new(&ctx, LB_F32, LB_SHAPE(1, 4));
    lb_tensor *w = lb_tensor_new(&ctx, LB_F32, LB_SHAPE(4));
    for (int i = 0; i < 4; i++) {
        ((float *)x->data)[i] = 1e-3f;
        ((float *)w->data)[i] = 2.0f;
    }
    const float *y = lb_rmsnorm(&ctx, x, w, 1e-6f)->data;
    double want = 2.0 * 1e-3 / sqrt(1e-6 + 1e-6);   /* eps is not negligible here */
    LB_EXPECTF(fabs(y[0] - want) / want < opc_tol(4), "rmsnorm with eps: %.7g, want %.7g", y[0], want);
    lb_ctx_free(&ctx);
}

/* forward and all grads are bit-identical with 1 and 3 OpenMP threads on
 * an input large enough for the parallel path */
static void test_norm_thread_independent(void)
{
    enum { R = 1024, C = 1100 };
    float *res[2][4];
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 3 : 1);
        lb_ctx ctx;
        opc_ctx(&ctx);
        lb_tensor *x = opc_rand(&ctx, LB_SHAPE(R, C), 60, -2, 2, true);
        lb_tensor *w = opc_rand(&ctx, LB_SHAPE(C), 61, 0.5f, 1.5f, true);
        lb_tensor *b = opc_rand(&ctx, LB_SHAPE(C), 62, -1, 1, true);
        lb_tensor *y = lb_layernorm(&ctx, lb_rmsnorm(&ctx, x, w, 1e-5f), w, b, 1e-5f);
        float *r = malloc(sizeof(float) * R * C);
        lb_test_rand(r, R * C, 63, -1, 1);
        opc_run_backward(&ctx, y, r);
        free(r);
        lb_tensor *ts[4] = {y, x->grad, w->grad, b->grad};
        for (int i = 0; i < 4; i++) {
            res[run][i] = malloc(lb_tensor_nbytes(ts[i]));
            memcpy(res[run][i], ts[i]->data, lb_tensor_nbytes(ts[i]));
        }
        lb_ctx_free(&ctx);
    }
    omp_set_num_threads(omp_get_num_procs());
    size_t n[4] = {R * C, R * C, C, C};
    for (int i = 0; i < 4; i++) {
        LB_EXPECTF(memcmp(res[0][i], res[1][i], n[i] * sizeof(float)) == 0,
                   "result %d differs between 1 and 3 threads", i);
        free(res[0][i]);
        free(res[1][i]);
    }
}

/* lb_add_rmsnorm: the same values and grads, bit for bit, as lb_add then
 * lb_rmsnorm, with a grad reaching h from elsewhere too (the residual
 * stream), which the backward must add to the norm's before x and r */
static void test_add_rmsnorm(void)
{
    enum { R = 5, C = 37 };
    lb_ctx ctx[2];
    lb_tensor *res[2][5];   /* per way: y, h, dx, dr, dw */
    for (int k = 0; k < 2; k++) {
        opc_ctx(&ctx[k]);
        lb_tensor *x = opc_rand(&ctx[k], LB_SHAPE(R, C), 1, -2.0f, 2.0f, true);
        lb_tensor *r = opc_rand(&ctx[k], LB_SHAPE(R, C), 2, -1.0f, 1.0f, true);
        lb_tensor *w = opc_rand(&ctx[k], LB_SHAPE(C), 3, 0.5f, 1.5f, true);
        lb_tensor *h, *y;
        if (k == 0) {
            y = lb_add_rmsnorm(&ctx[k], x, r, w, 1e-5f, &h);
        } else {
            h = lb_add(&ctx[k], x, r);
            y = lb_rmsnorm(&ctx[k], h, w, 1e-5f);
        }
        lb_test_rand(lb_grad_of(&ctx[k], h)->data, R * C, 4, -1.0f, 1.0f);
        lb_test_rand(lb_grad_of(&ctx[k], y)->data, R * C, 5, -1.0f, 1.0f);
        for (lb_node *n = ctx[k].tape; n; n = n->prev)
            if (n->out->grad) n->backward(&ctx[k], n);
        res[k][0] = y;
        res[k][1] = h;
        res[k][2] = x->grad;
        res[k][3] = r->grad;
        res[k][4] = w->grad;
    }
    const char *names[5] = {"y", "h", "dx", "dr", "dw"};
    for (int i = 0; i < 5; i++) {
        LB_EXPECTF(res[0][i] && res[1][i], "add_rmsnorm: %s missing", names[i]);
        if (!res[0][i] || !res[1][i]) continue;
        size_t bytes = (size_t)lb_tensor_numel(res[1][i]) * sizeof(float);
        LB_EXPECTF(memcmp(res[0][i]->data, res[1][i]->data, bytes) == 0,
                   "add_rmsnorm: %s differs from add then rmsnorm", names[i]);
    }
    for (int k = 0; k < 2; k++) lb_ctx_free(&ctx[k]);
}

int main(void)
{
    LB_RUN(test_rmsnorm);
    LB_RUN(test_rmsnorm_positive);
    LB_RUN(test_layernorm);
    LB_RUN(test_layernorm_no_bias);
    LB_RUN(test_layernorm_offset);
    LB_RUN(test_rmsnorm_eps);
    LB_RUN(test_norm_thread_independent);
    LB_RUN(test_add_rmsnorm);
    return lb_test_summary();
}
