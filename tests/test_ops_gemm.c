/* test_ops_gemm.c — lb_matmul (four transpose combos, shared and batched B)
 * and lb_linear (with and without bias, leading dims), forward against a
 * double reference and backward against finite differences. */
#include "ops_check.h"

typedef struct mm_params {
    bool ta, tb, shared;
    int64_t batch, M, N, K;
} mm_params;

/* c[bi] (M, N) = op(a[bi]) @ op(b or b[bi]) in double */
static void ref_matmul(const void *pp, double *const *in, double *out)
{
    const mm_params *p = pp;
    for (int64_t bi = 0; bi < p->batch; bi++) {
        const double *a = in[0] + bi * p->M * p->K;
        const double *b = in[1] + (p->shared ? 0 : bi * p->K * p->N);
        for (int64_t i = 0; i < p->M; i++)
            for (int64_t j = 0; j < p->N; j++) {
                double s = 0.0;
                for (int64_t k = 0; k < p->K; k++) {
                    double av = p->ta ? a[k * p->M + i] : a[i * p->K + k];
                    double bv = p->tb ? b[j * p->K + k] : b[k * p->N + j];
                    s += av * bv;
                }
                out[(bi * p->M + i) * p->N + j] = s;
            }
    }
}

/* one matmul case: a (2, 3, ., .) 4-D so that batching covers two dims */
static void check_matmul(bool ta, bool tb, bool shared)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    mm_params p = {.ta = ta, .tb = tb, .shared = shared, .batch = 6, .M = 5, .N = 3, .K = 7};
    int64_t as[4] = {2, 3, ta ? p.K : p.M, ta ? p.M : p.K};
    int64_t bs[4] = {2, 3, tb ? p.N : p.K, tb ? p.K : p.N};
    lb_tensor *a = opc_rand(&ctx, 4, as, 1, -1, 1, true);
    lb_tensor *b = shared ? opc_rand(&ctx, 2, bs + 2, 2, -1, 1, true) : opc_rand(&ctx, 4, bs, 2, -1, 1, true);
    lb_tensor *c = lb_matmul(&ctx, a, b, ta, tb);
    LB_EXPECT(c->ndim == 4 && c->shape[0] == 2 && c->shape[1] == 3 && c->shape[2] == p.M &&
              c->shape[3] == p.N);
    /* forward: K-length dot products; backward: dA sums over N, dB over
     * batch * M (shared B) */
    opc_case cs = {.ref = ref_matmul, .params = &p, .n_in = 2, .in = {a, b}, .out = c,
                   .fwd_tol = opc_tol(p.K), .bwd_tol = opc_tol(p.batch * p.M)};
    char what[64];
    snprintf(what, sizeof what, "matmul ta=%d tb=%d %s", ta, tb, shared ? "shared" : "batched");
    opc_check(&ctx, &cs, what);
    lb_ctx_free(&ctx);
}

static void test_matmul_shared_b(void)
{
    for (int t = 0; t < 4; t++) check_matmul(t & 1, t & 2, true);
}

static void test_matmul_batched_b(void)
{
    for (int t = 0; t < 4; t++) check_matmul(t & 1, t & 2, false);
}

static void test_matmul_2d_and_no_grad_b(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    mm_params p = {.batch = 1, .M = 13, .N = 37, .K = 5, .shared = true};
    lb_tensor *a = opc_rand(&ctx, LB_SHAPE(13, 5), 3, -2, 2, true);
    lb_tensor *b = opc_rand(&ctx, LB_SHAPE(5, 37), 4, -2, 2, false);   /* b gets no grad */
    lb_tensor *c = lb_matmul(&ctx, a, b, false, false);
    opc_case cs = {.ref = ref_matmul, .params = &p, .n_in = 2, .in = {a, b}, .out = c,
                   .fwd_tol = opc_tol(p.K), .bwd_tol = opc_tol(p.N)};
    opc_check(&ctx, &cs, "matmul 2-D, b without grad");
    lb_ctx_free(&ctx);
}

typedef struct lin_params {
    int64_t M, N, K;
    bool bias;
} lin_params;

static void ref_linear(const void *pp, double *const *in, double *out)
{
    const lin_params *p = pp;
    for (int64_t i = 0; i < p->M; i++)
        for (int64_t j = 0; j < p->N; j++) {
            double s = p->bias ? in[2][j] : 0.0;
            for (int64_t k = 0; k < p->K; k++) s += in[0][i * p->K + k] * in[1][j * p->K + k];
            out[i * p->N + j] = s;
        }
}

static void check_linear(bool bias, bool w_grad)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lin_params p = {.M = 2 * 7, .N = 13, .K = 37, .bias = bias};
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(2, 7, 37), 5, -1, 1, true);   // (B, T, in)
    lb_tensor *w = opc_rand(&ctx, LB_SHAPE(13, 37), 6, -1, 1, w_grad);   // (out, in)
    lb_tensor *b = bias ? opc_rand(&ctx, LB_SHAPE(13), 7, -1, 1, true) : NULL;
    lb_tensor *y = lb_linear(&ctx, x, w, b);
    LB_EXPECT(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 7 && y->shape[2] == 13);
    /* forward: K dot products (+ bias); backward: dx over N, dw and db over M */
    opc_case cs = {.ref = ref_linear, .params = &p, .n_in = bias ? 3 : 2, .in = {x, w, b},
                   .out = y, .fwd_tol = opc_tol(p.K + 1), .bwd_tol = opc_tol(p.M + p.N)};
    opc_check(&ctx, &cs, bias ? "linear with bias" : "linear without bias");
    lb_ctx_free(&ctx);
}

static void test_linear_bias(void) { check_linear(true, true); }
static void test_linear_no_bias(void) { check_linear(false, true); }
static void test_linear_frozen_weight(void) { check_linear(true, false); }

/* grad mode off: nothing is recorded, and the output is the same */
static void test_linear_no_grad_mode(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(3, 5), 8, -1, 1, true);
    lb_tensor *w = opc_rand(&ctx, LB_SHAPE(7, 5), 9, -1, 1, true);
    lb_tensor *y1 = lb_linear(&ctx, x, w, NULL);
    int64_t len = ctx.tape_len;
    lb_ctx_set_grad(&ctx, false);
    lb_tensor *y2 = lb_linear(&ctx, x, w, NULL);
    LB_EXPECT(ctx.tape_len == len && !y2->requires_grad && y2->node == NULL);
    LB_EXPECT(memcmp(y1->data, y2->data, 21 * sizeof(float)) == 0);
    lb_ctx_free(&ctx);
}

static void bad_matmul(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_matmul(&ctx, lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(2, 3, 5)),
              lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(4, 7)), false, false);
}

static void bad_batched_matmul(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_matmul(&ctx, lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(2, 3, 5)),
              lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(3, 5, 7)), false, false);
}

static void bad_linear(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_linear(&ctx, lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(2, 3, 5)),
              lb_tensor_zeros(&ctx, LB_F32, LB_SHAPE(7, 6)), NULL);
}

/* mismatched shapes abort with a message that shows them */
static void test_shape_checks(void)
{
    opc_expect_abort(bad_matmul, "a (2, 3, 5) (ta=0) and b (4, 7)", "matmul inner dims");
    opc_expect_abort(bad_batched_matmul, "b (3, 5, 7)", "matmul leading dims");
    opc_expect_abort(bad_linear, "x (2, 3, 5) does not match w (7, 6)", "linear");
}

int main(void)
{
    LB_RUN(test_matmul_shared_b);
    LB_RUN(test_matmul_batched_b);
    LB_RUN(test_matmul_2d_and_no_grad_b);
    LB_RUN(test_linear_bias);
    LB_RUN(test_linear_no_bias);
    LB_RUN(test_linear_frozen_weight);
    LB_RUN(test_linear_no_grad_mode);
    LB_RUN(test_shape_checks);
    return lb_test_summary();
}
