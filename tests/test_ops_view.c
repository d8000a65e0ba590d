/* test_ops_view.c — lb_reshape (shares data), lb_transpose, lb_slice and
 * lb_concat: forward against a double reference (exact: they only move
 * values), grads against finite differences. */
#include "ops_check.h"

/* Moving values is exact and so are the grads of a single use: tolerance 0
 * forward; the grads are exact too (each element receives one term), but
 * the pre-seeded grad adds one rounding: opc_tol(0). */
#define TOL_MOVE_BWD opc_tol(0)

typedef struct view_params {
    int ndim;
    int64_t shape[4];   /* the input's shape */
    int d0, d1;         /* transpose dims; slice/concat: d0 */
    int64_t start, len; /* slice; concat: len = b's size along d0 */
} view_params;

static void ref_identity(const void *pp, double *const *in, double *out)
{
    const view_params *p = pp;
    int64_t n = 1;
    for (int i = 0; i < p->ndim; i++) n *= p->shape[i];
    memcpy(out, in[0], (size_t)n * sizeof(double));
}

static void test_reshape(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(3, 5, 7), 1, -1, 1, true);
    lb_tensor *y = lb_reshape(&ctx, x, LB_SHAPE(5, -1));
    LB_EXPECT(y->ndim == 2 && y->shape[0] == 5 && y->shape[1] == 21 && y->data == x->data);
    view_params p = {.ndim = 3, .shape = {3, 5, 7}};
    opc_case c = {.ref = ref_identity, .params = &p, .n_in = 1, .in = {x}, .out = y,
                  .fwd_tol = 0.0, .bwd_tol = TOL_MOVE_BWD};
    opc_check(&ctx, &c, "reshape");
    lb_ctx_free(&ctx);
}

/* index of element i (of the input, padded to 4 dims) in the transposed tensor */
static void ref_transpose(const void *pp, double *const *in, double *out)
{
    const view_params *p = pp;
    int off = 4 - p->ndim;
    int64_t s[4], idx[4], os[4];
    for (int i = 0; i < 4; i++) s[i] = i < off ? 1 : p->shape[i - off];
    memcpy(os, s, sizeof s);
    os[p->d0 + off] = s[p->d1 + off];
    os[p->d1 + off] = s[p->d0 + off];
    for (idx[0] = 0; idx[0] < s[0]; idx[0]++)
        for (idx[1] = 0; idx[1] < s[1]; idx[1]++)
            for (idx[2] = 0; idx[2] < s[2]; idx[2]++)
                for (idx[3] = 0; idx[3] < s[3]; idx[3]++) {
                    int64_t j[4] = {idx[0], idx[1], idx[2], idx[3]};
                    j[p->d0 + off] = idx[p->d1 + off];
                    j[p->d1 + off] = idx[p->d0 + off];
                    int64_t src = ((idx[0] * s[1] + idx[1]) * s[2] + idx[2]) * s[3] + idx[3];
                    int64_t dst = ((j[0] * os[1] + j[1]) * os[2] + j[2]) * os[3] + j[3];
                    out[dst] = in[0][src];
                }
}

static void check_transpose(int ndim, const int64_t *shape, int d0, int d1)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *x = opc_rand(&ctx, ndim, shape, 2, -1, 1, true);
    lb_tensor *y = lb_transpose(&ctx, x, d0, d1);
    LB_EXPECT(y->shape[d0] == x->shape[d1] && y->shape[d1] == x->shape[d0]);
    view_params p = {.ndim = ndim, .d0 = d0, .d1 = d1};
    memcpy(p.shape, shape, (size_t)ndim * sizeof *shape);
    opc_case c = {.ref = ref_transpose, .params = &p, .n_in = 1, .in = {x}, .out = y,
                  .fwd_tol = 0.0, .bwd_tol = TOL_MOVE_BWD};
    char what[48];
    snprintf(what, sizeof what, "transpose %dD (%d, %d)", ndim, d0, d1);
    opc_check(&ctx, &c, what);
    lb_ctx_free(&ctx);
}

static void test_transpose(void)
{
    int64_t s4[4] = {2, 3, 5, 7}, s3[3] = {3, 5, 7}, s2[2] = {5, 13};
    int pairs[6][2] = {{0, 1}, {0, 3}, {1, 2}, {2, 3}, {3, 1}, {2, 2}};
    for (int i = 0; i < 6; i++) check_transpose(4, s4, pairs[i][0], pairs[i][1]);
    check_transpose(3, s3, 0, 2);
    check_transpose(3, s3, 1, 2);
    check_transpose(2, s2, 0, 1);
}

static void ref_slice(const void *pp, double *const *in, double *out)
{
    const view_params *p = pp;
    int64_t outer = 1, inner = 1, D = p->shape[p->d0];
    for (int i = 0; i < p->d0; i++) outer *= p->shape[i];
    for (int i = p->d0 + 1; i < p->ndim; i++) inner *= p->shape[i];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t d = 0; d < p->len; d++)
            for (int64_t i = 0; i < inner; i++)
                out[(o * p->len + d) * inner + i] = in[0][(o * D + p->start + d) * inner + i];
}

static void test_slice(void)
{
    int64_t shape[4] = {3, 5, 7, 2};
    int64_t cases[5][3] = {{0, 1, 2}, {1, 0, 5}, {1, 2, 3}, {2, 6, 1}, {3, 1, 1}};  /* dim, start, len */
    for (int i = 0; i < 5; i++) {
        lb_ctx ctx;
        opc_ctx(&ctx);
        view_params p = {.ndim = 4, .shape = {3, 5, 7, 2}, .d0 = (int)cases[i][0],
                         .start = cases[i][1], .len = cases[i][2]};
        lb_tensor *x = opc_rand(&ctx, 4, shape, 3, -1, 1, true);
        lb_tensor *y = lb_slice(&ctx, x, p.d0, p.start, p.len);
        LB_EXPECT(y->shape[p.d0] == p.len);
        opc_case c = {.ref = ref_slice, .params = &p, .n_in = 1, .in = {x}, .out = y,
                      .fwd_tol = 0.0, .bwd_tol = TOL_MOVE_BWD};
        char what[48];
        snprintf(what, sizeof what, "slice dim %d [%lld, +%lld)", p.d0, (long long)p.start,
                 (long long)p.len);
        opc_check(&ctx, &c, what);
        lb_ctx_free(&ctx);
    }
}

/* in[0] = a (shape), in[1] = b (shape with len along d0) */
static void ref_concat(const void *pp, double *const *in, double *out)
{
    const view_params *p = pp;
    int64_t outer = 1, inner = 1, Da = p->shape[p->d0], Db = p->len;
    for (int i = 0; i < p->d0; i++) outer *= p->shape[i];
    for (int i = p->d0 + 1; i < p->ndim; i++) inner *= p->shape[i];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t d = 0; d < Da + Db; d++)
            for (int64_t i = 0; i < inner; i++)
                out[(o * (Da + Db) + d) * inner + i] =
                    d < Da ? in[0][(o * Da + d) * inner + i] : in[1][(o * Db + d - Da) * inner + i];
}

static void test_concat(void)
{
    for (int dim = 0; dim < 3; dim++) {
        lb_ctx ctx;
        opc_ctx(&ctx);
        view_params p = {.ndim = 3, .shape = {3, 5, 7}, .d0 = dim, .len = 2 + dim};
        int64_t bs[3] = {3, 5, 7};
        bs[dim] = p.len;
        lb_tensor *a = opc_rand(&ctx, 3, p.shape, 4, -1, 1, true);
        lb_tensor *b = opc_rand(&ctx, 3, bs, 5, -1, 1, dim != 1);   /* b frozen once */
        lb_tensor *y = lb_concat(&ctx, a, b, dim);
        LB_EXPECT(y->shape[dim] == p.shape[dim] + p.len);
        opc_case c = {.ref = ref_concat, .params = &p, .n_in = 2, .in = {a, b}, .out = y,
                      .fwd_tol = 0.0, .bwd_tol = TOL_MOVE_BWD};
        char what[32];
        snprintf(what, sizeof what, "concat dim %d", dim);
        opc_check(&ctx, &c, what);
        lb_ctx_free(&ctx);
    }
}

/* a tensor used twice (the grads of both uses add up) through lb_backward:
 * loss = sum(concat(slice(x, 1, 0, 2), transpose(reshape(x)))) style chain */
static void test_views_chain(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(2, 6), 6, -1, 1, true);
    lb_tensor *r = lb_transpose(&ctx, lb_reshape(&ctx, x, LB_SHAPE(3, 4)), 0, 1);   // (4, 3)
    lb_tensor *s = lb_reshape(&ctx, lb_slice(&ctx, x, 1, 0, 6), LB_SHAPE(4, 3));   // (4, 3)
    lb_tensor *loss = lb_sum(&ctx, lb_mul(&ctx, lb_concat(&ctx, r, s, 0), lb_concat(&ctx, r, s, 0)));
    lb_backward(&ctx, loss);
    /* loss = 2 sum(x^2), grad 4 x */
    const float *xv = x->data, *g = x->grad->data;
    for (int i = 0; i < 12; i++) LB_EXPECTF(g[i] == 4.0f * xv[i], "grad[%d] %g, want %g", i, g[i], 4 * xv[i]);
    lb_ctx_free(&ctx);
}

int main(void)
{
    LB_RUN(test_reshape);
    LB_RUN(test_transpose);
    LB_RUN(test_slice);
    LB_RUN(test_concat);
    LB_RUN(test_views_chain);
    return lb_test_summary();
}
