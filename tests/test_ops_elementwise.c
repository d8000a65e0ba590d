/* test_ops_elementwise.c — add and mul (b of trailing shape and of full
 * shape), scale, silu, gelu (exact and tanh), swiglu and sum: forward
 * against a double reference, backward against finite differences. */
#include <omp.h>

#include "ops_check.h"

/* Pointwise results go through at most a handful of rounded fp32 ops and
 * libm calls (expf, erff, tanhf: <= 2 ulp), so reduction length 0. */
#define TOL_POINTWISE opc_tol(0)

typedef struct bc_params {
    int64_t n, nb;
} bc_params;

static void ref_add(const void *pp, double *const *in, double *out)
{
    const bc_params *p = pp;
    for (int64_t i = 0; i < p->n; i++) out[i] = in[0][i] + in[1][i % p->nb];
}

static void ref_mul(const void *pp, double *const *in, double *out)
{
    const bc_params *p = pp;
    for (int64_t i = 0; i < p->n; i++) out[i] = in[0][i] * in[1][i % p->nb];
}

/* a (3, 5, 13); b of shape b_ndim trailing dims of a (3 = a's full shape) */
static void check_broadcast(bool mul, int b_ndim)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    int64_t as[3] = {3, 5, 13};
    lb_tensor *a = opc_rand(&ctx, 3, as, 1, -2, 2, true);
    lb_tensor *b = opc_rand(&ctx, b_ndim, as + 3 - b_ndim, 2, -2, 2, true);
    bc_params p = {.n = lb_tensor_numel(a), .nb = lb_tensor_numel(b)};
    lb_tensor *out = mul ? lb_mul(&ctx, a, b) : lb_add(&ctx, a, b);
    LB_EXPECT(lb_tensor_same_shape(out, a));
    /* the grad of b sums n / nb rows */
    opc_case c = {.ref = mul ? ref_mul : ref_add, .params = &p, .n_in = 2, .in = {a, b}, .out = out,
                  .fwd_tol = TOL_POINTWISE, .bwd_tol = opc_tol(p.n / p.nb)};
    char what[48];
    snprintf(what, sizeof what, "%s with b of %d trailing dims", mul ? "mul" : "add", b_ndim);
    opc_check(&ctx, &c, what);
    lb_ctx_free(&ctx);
}

static void test_add_broadcast(void)
{
    for (int d = 0; d <= 3; d++) check_broadcast(false, d);
}

static void test_mul_broadcast(void)
{
    for (int d = 0; d <= 3; d++) check_broadcast(true, d);
}

/* the full-shape path of the kernels switches at n == nb; 1.2M elements run
 * on the parallel path (above LB_CPU_PAR_MIN) */
static void test_add_mul_large_full_shape(void)
{
    for (int m = 0; m < 2; m++) {
        lb_ctx ctx;
        opc_ctx(&ctx);
        lb_tensor *a = opc_rand(&ctx, LB_SHAPE(2, 600000), 3, -1, 1, true);
        lb_tensor *b = opc_rand(&ctx, LB_SHAPE(2, 600000), 4, -1, 1, true);
        lb_tensor *out = m ? lb_mul(&ctx, a, b) : lb_add(&ctx, a, b);
        const float *x = a->data, *y = b->data, *o = out->data;
        int bad = 0;
        for (int64_t i = 0; i < 1200000; i++) bad += o[i] != (m ? x[i] * y[i] : x[i] + y[i]);
        LB_EXPECTF(bad == 0, "%s: %d elements differ from the exact fp32 result", m ? "mul" : "add", bad);
        lb_ctx_free(&ctx);
    }
}

typedef struct pw_params {
    int64_t n;
    int kind;    /* SCALE, SILU, GELU_EXACT, GELU_TANH, SWIGLU */
    double s;
} pw_params;

enum { PW_SCALE, PW_SILU, PW_GELU_EXACT, PW_GELU_TANH, PW_SWIGLU };

static double silu_d(double x) { return x / (1.0 + exp(-x)); }

static void ref_pointwise(const void *pp, double *const *in, double *out)
{
    const pw_params *p = pp;
    for (int64_t i = 0; i < p->n; i++) {
        double x = in[0][i];
        switch (p->kind) {
        case PW_SCALE: out[i] = p->s * x; break;
        case PW_SILU: out[i] = silu_d(x); break;
        case PW_GELU_EXACT: out[i] = 0.5 * x * (1.0 + erf(x / sqrt(2.0))); break;
        case PW_GELU_TANH:
            out[i] = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
            break;
        default: out[i] = silu_d(x) * in[1][i]; break;
        }
    }
}

static void check_pointwise(int kind, const char *what)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    /* (7, 37) in [-6, 6]: covers the saturated tails of sigmoid, erf, tanh */
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(7, 37), 10 + (uint64_t)kind, -6, 6, true);
    lb_tensor *up = opc_rand(&ctx, LB_SHAPE(7, 37), 20, -2, 2, true);
    pw_params p = {.n = 7 * 37, .kind = kind, .s = -0.375};
    lb_tensor *out;
    switch (kind) {
    case PW_SCALE: out = lb_scale(&ctx, x, -0.375f); break;
    case PW_SILU: out = lb_silu(&ctx, x); break;
    case PW_GELU_EXACT: out = lb_gelu(&ctx, x, LB_GELU_EXACT); break;
    case PW_GELU_TANH: out = lb_gelu(&ctx, x, LB_GELU_TANH); break;
    default: out = lb_swiglu(&ctx, x, up); break;
    }
    opc_case c = {.ref = ref_pointwise, .params = &p, .n_in = kind == PW_SWIGLU ? 2 : 1,
                  .in = {x, up}, .out = out, .fwd_tol = TOL_POINTWISE, .bwd_tol = TOL_POINTWISE};
    opc_check(&ctx, &c, what);
    lb_ctx_free(&ctx);
}

static void test_scale(void) { check_pointwise(PW_SCALE, "scale"); }
static void test_silu(void) { check_pointwise(PW_SILU, "silu"); }
static void test_gelu_exact(void) { check_pointwise(PW_GELU_EXACT, "gelu exact"); }
static void test_gelu_tanh(void) { check_pointwise(PW_GELU_TANH, "gelu tanh"); }
static void test_swiglu(void) { check_pointwise(PW_SWIGLU, "swiglu"); }

/* the two gelu forms differ by up to ~1e-3 (at |x| ~ 2): a mixed-up kind
 * cannot pass the other's reference */
static void test_gelu_kinds_differ(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *x = lb_tensor_new(&ctx, LB_F32, LB_SHAPE(1));
    ((float *)x->data)[0] = -2.0f;
    float e = ((float *)lb_gelu(&ctx, x, LB_GELU_EXACT)->data)[0];
    float t = ((float *)lb_gelu(&ctx, x, LB_GELU_TANH)->data)[0];
    LB_EXPECTF(fabs(e - -0.04550026) < 1e-7 && fabs(t - -0.04540230) < 1e-7,
               "gelu(-2): exact %.8f, tanh %.8f", e, t);
    lb_ctx_free(&ctx);
}

/* silu and its grad stay finite where exp(-x) overflows */
static void test_silu_extremes(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *x = lb_tensor_new(&ctx, LB_F32, LB_SHAPE(4));
    float v[4] = {-200.0f, -90.0f, 90.0f, 200.0f};
    memcpy(x->data, v, sizeof v);
    x->requires_grad = true;
    lb_tensor *y = lb_silu(&ctx, x);
    float r[4] = {1, 1, 1, 1};
    opc_run_backward(&ctx, y, r);
    const float *o = y->data, *g = x->grad->data;
    for (int i = 0; i < 4; i++) LB_EXPECTF(isfinite(o[i]) && isfinite(g[i]), "silu(%g)", v[i]);
    LB_EXPECT(o[0] == 0.0f && o[3] == 200.0f && g[0] == 0.0f && g[3] == 1.0f);
    lb_ctx_free(&ctx);
}

typedef struct sum_params {
    int64_t n;
} sum_params;

static void ref_sum(const void *pp, double *const *in, double *out)
{
    const sum_params *p = pp;
    out[0] = 0.0;
    for (int64_t i = 0; i < p->n; i++) out[0] += in[0][i];
}

static void test_sum(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *x = opc_rand(&ctx, LB_SHAPE(3, 5, 7), 30, -1, 1, true);
    sum_params p = {.n = 105};
    lb_tensor *s = lb_sum(&ctx, x);
    LB_EXPECT(s->ndim == 0 && lb_tensor_numel(s) == 1);
    /* summed in double, rounded once */
    opc_case c = {.ref = ref_sum, .params = &p, .n_in = 1, .in = {x}, .out = s,
                  .fwd_tol = opc_tol(0), .bwd_tol = opc_tol(0)};
    opc_check(&ctx, &c, "sum");
    lb_ctx_free(&ctx);
}

/* the broadcast grad (a column sum over rows) is bit-identical whatever the
 * number of OpenMP threads: each column is summed in row order */
static void test_broadcast_grad_thread_independent(void)
{
    float *db[2];
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 3 : 1);
        lb_ctx ctx;
        opc_ctx(&ctx);
        lb_tensor *a = opc_rand(&ctx, LB_SHAPE(700, 1531), 50, -1, 1, true);
        lb_tensor *b = opc_rand(&ctx, LB_SHAPE(1531), 51, -1, 1, true);
        lb_backward(&ctx, lb_sum(&ctx, lb_mul(&ctx, lb_add(&ctx, a, b), a)));
        db[run] = malloc(1531 * sizeof(float));
        memcpy(db[run], b->grad->data, 1531 * sizeof(float));
        lb_ctx_free(&ctx);
    }
    omp_set_num_threads(omp_get_num_procs());
    LB_EXPECT(memcmp(db[0], db[1], 1531 * sizeof(float)) == 0);
    free(db[0]);
    free(db[1]);
}

/* a chain through lb_backward itself: loss = sum(silu(a * b + a)) */
static void test_chain_with_lb_backward(void)
{
    lb_ctx ctx;
    opc_ctx(&ctx);
    lb_tensor *a = opc_rand(&ctx, LB_SHAPE(4, 5), 40, -1, 1, true);
    lb_tensor *b = opc_rand(&ctx, LB_SHAPE(5), 41, -1, 1, true);
    lb_tensor *loss = lb_sum(&ctx, lb_silu(&ctx, lb_add(&ctx, lb_mul(&ctx, a, b), a)));
    lb_backward(&ctx, loss);
    const float *av = a->data, *bv = b->data, *ga = a->grad->data, *gb = b->grad->data;
    double gb_ref[5] = {0};
    double err = 0, scale = 1e-3;
    for (int i = 0; i < 20; i++) {
        double z = (double)av[i] * bv[i % 5] + av[i], s = 1.0 / (1.0 + exp(-z));
        double ds = s * (1.0 + z * (1.0 - s));
        double g = ds * (bv[i % 5] + 1.0);
        err = fmax(err, fabs(ga[i] - g));
        scale = fmax(scale, fabs(g));
        gb_ref[i % 5] += ds * av[i];
    }
    for (int j = 0; j < 5; j++) err = fmax(err, fabs(gb[j] - gb_ref[j]));
    LB_EXPECTF(err / scale <= opc_tol(4), "chain grad rel err %.3g", err / scale);
    lb_ctx_free(&ctx);
}

int main(void)
{
    LB_RUN(test_add_broadcast);
    LB_RUN(test_mul_broadcast);
    LB_RUN(test_add_mul_large_full_shape);
    LB_RUN(test_scale);
    LB_RUN(test_silu);
    LB_RUN(test_gelu_exact);
    LB_RUN(test_gelu_tanh);
    LB_RUN(test_swiglu);
    LB_RUN(test_gelu_kinds_differ);
    LB_RUN(test_silu_extremes);
    LB_RUN(test_sum);
    LB_RUN(test_broadcast_grad_thread_independent);
    LB_RUN(test_chain_with_lb_backward);
    return lb_test_summary();
}
