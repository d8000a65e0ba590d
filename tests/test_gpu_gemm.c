/* test_gpu_gemm.c — the CUDA GEMMs (kernels/cuda/gemm.cu) against the CPU
 * fp32 path: lb_cuda_gemm_fwd/bwd (four transpose combos, shared and batched
 * B, grads in bf16 and f32) and lb_cuda_linear_fwd/bwd (with and without
 * bias), at sizes that are and are not multiples of 8, 16 or 128, on
 * cuBLASLt and again on the fallback kernel; then lb_linear and lb_matmul on
 * CUDA tensors through the tape. Skips (77) without a GPU.
 *
 * `test_gpu_gemm --bench` instead times lb_cuda_linear_fwd (and, once per
 * shape, lb_cuda_linear_bwd) at the sizes of a 1B-class Llama (CUDA events,
 * median of 20 after warm-up).
 *
 * How the comparison is fair: inputs are drawn in fp32 and rounded to bf16
 * on the host, and the CPU reference multiplies those same rounded values,
 * so what remains is the GEMM's own error, bounded per element below.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ctx.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "harness.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

#ifdef LB_HAVE_CUDA
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_state.h"   /* the context's stream, for --bench's events */
#endif


/* Error bounds, per element, for a product whose entries are sums of n
 * terms a_k b_k (plus what the output held before, for accumulation):
 *   |gpu - ref| <= U_BF16 |ref| [+ U_BF16 S] + ACC_SAFETY * n * U_F32 * S,
 * S = sum |a_k| |b_k| (+ |what was there| + |bias|), computed by the same
 * CPU GEMM on absolute values.
 * - U_BF16 = 2^-8, bf16's unit roundoff (8-bit significand): the rounding
 *   of a bf16 output. An ACCUMULATED bf16 output (beta = 1) may be rounded
 *   twice: seen on the H100, cuBLASLt rounds the product to bf16 before it
 *   adds the old value for some algorithms (an old value 2^-6 and a product
 *   -0.0158021 gave exactly bf16(-0.0158021) + 2^-6), so its bound adds
 *   U_BF16 |product| <= U_BF16 S. A result that cancels the old value is
 *   then off by up to half a bf16 ulp of the product, not of the result,
 *   which is what bf16 training with beta = 1 gives elsewhere too. The
 *   bias epilogue does the same with a bf16 output (seen: a product
 *   rounded to bf16, then the bias added and rounded again), so a forward
 *   with bias takes this bound too.
 * - n * U_F32 * S bounds the error of an fp32 sum of n terms in any order.
 *   ACC_SAFETY = 4: the CPU's sum (1), the GPU's (1, or 2 if the tensor
 *   cores truncate instead of rounding), and 1 of margin for the epilogue's
 *   extra add. In these tests that term is far below the bf16 one; for f32
 *   outputs (weight grads) it is the whole bound.
 * - a bias that cuBLASLt takes only as bf16 adds U_BF16 |bias|. */
#define U_BF16 (1.0 / 256.0)
#define U_F32 (1.0 / 16777216.0)
#define ACC_SAFETY 4.0

/* Grads start here (exact in bf16: 2^-6) and the backward must add to it. */
#define PRESEED 0.015625f

static lb_ctx g_gpu;   /* one CUDA context for every test (handles are costly) */

/* ---- helpers ---------------------------------------------------------------- */

static float *rand_bf16(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    lb_test_rand(x, n, seed, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++) x[i] = lb_bf16_to_f32(lb_f32_to_bf16(x[i]));
    return x;
}

static float *alloc_f(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static float *filled(int64_t n, float v)
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = v;
    return x;
}

static float *absolute(const float *x, int64_t n)
{
    float *y = malloc((size_t)(n ? n : 1) * sizeof *y);
    for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]);
    return y;
}

/* dev: a step tensor on the GPU of dtype dt holding host values x (n). */
static lb_tensor *dev(lb_dtype dt, const float *x, int64_t n)
{
    lb_tensor *t = lb_tensor_new_dev(&g_gpu, LB_CUDA, dt, 1, (int64_t[]){n});
    lb_tensor_copy_from_host(&g_gpu, t, x);
    return t;
}

static float *host(lb_tensor *t)
{
    int64_t n = lb_tensor_numel(t);
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    lb_tensor_copy_to_host(&g_gpu, t, x);
    return x;
}

/* check: every |got - ref| within the bound above (the second bf16
 * rounding when `accumulated`, U_BF16 extra[i] for a bias rounded to
 * bf16), NaN (an unwritten poisoned output) never. Prints the worst ratio
 * of error to bound with LB_VERBOSE set. */
static void check(const char *what, const float *got, const float *ref, const float *s,
                  const float *extra, int64_t count, int64_t n, bool bf16_out, bool accumulated)
{
    double worst = 0.0, worst1 = 0.0;   /* worst1: against one rounding only */
    int64_t at = -1;
    for (int64_t i = 0; i < count; i++) {
        double one = (bf16_out ? U_BF16 : U_F32) * fabs(ref[i]) +
                     ACC_SAFETY * (double)(n + 1) * U_F32 * s[i] +
                     (extra ? U_BF16 * extra[i] : 0.0) + 1e-30;
        double bound = one + (bf16_out && accumulated ? U_BF16 * s[i] : 0.0);
        double e = fabs((double)got[i] - ref[i]);
        double r = isnan(got[i]) ? INFINITY : e / bound;
        if (e / one > worst1) worst1 = e / one;
        if (r > worst || at < 0) {
            worst = r;
            at = i;
        }
    }
    if (getenv("LB_VERBOSE"))
        printf("    %s: worst err/bound %.3g (one rounding: %.3g)\n", what, worst, worst1);
    LB_EXPECTF(count == 0 || worst <= 1.0, "%s: element %lld: got %.9g, ref %.9g (err/bound %.3g)",
               what, (long long)at, at >= 0 ? got[at] : 0.0, at >= 0 ? ref[at] : 0.0, worst);
}

/* ---- lb_cuda_gemm_fwd / _bwd ------------------------------------------------- */

typedef struct mm_case {
    bool ta, tb, shared;
    int64_t batch, M, N, K;
    lb_dtype da_type, db_type;
} mm_case;

/* The CPU op's loop (autograd/ops_gemm.c): forward when dc is NULL, else
 * accumulate the grads. */
static void cpu_matmul(const mm_case *c, const float *a, const float *b, float *out,
                       const float *dc, float *da, float *db)
{
    int64_t sa = c->M * c->K, sb = c->shared ? 0 : c->K * c->N, sc = c->M * c->N;
    for (int64_t z = 0; z < c->batch; z++) {
        if (!dc)
            lb_cpu_gemm_fwd(c->ta, c->tb, c->M, c->N, c->K, a + z * sa, b + z * sb, 0.0f, out + z * sc);
        else
            lb_cpu_gemm_bwd(c->ta, c->tb, c->M, c->N, c->K, a + z * sa, b + z * sb, dc + z * sc,
                            da + z * sa, db + z * sb);
    }
}

static void check_matmul(const mm_case *c, uint64_t seed)
{
    char what[160];
    snprintf(what, sizeof what, "matmul ta=%d tb=%d %s batch=%lld M=%lld N=%lld K=%lld da=%s db=%s",
             c->ta, c->tb, c->shared ? "shared" : "batched", (long long)c->batch, (long long)c->M,
             (long long)c->N, (long long)c->K, lb_dtype_name(c->da_type), lb_dtype_name(c->db_type));
    int64_t na = c->batch * c->M * c->K, nb = (c->shared ? 1 : c->batch) * c->K * c->N,
            nc = c->batch * c->M * c->N;
    float *a = rand_bf16(na, seed), *b = rand_bf16(nb, seed + 1), *dc = rand_bf16(nc, seed + 2);
    float *aa = absolute(a, na), *ab = absolute(b, nb), *adc = absolute(dc, nc);

    /* forward: the output poisoned with NaN, which it must overwrite */
    float *ref = alloc_f(nc), *s = alloc_f(nc);
    cpu_matmul(c, a, b, ref, NULL, NULL, NULL);
    cpu_matmul(c, aa, ab, s, NULL, NULL, NULL);
    float *poison = filled(nc, NAN);
    lb_tensor *ga = dev(LB_BF16, a, na), *gb = dev(LB_BF16, b, nb), *gc = dev(LB_BF16, poison, nc);
    lb_cuda_gemm_fwd(&g_gpu, c->ta, c->tb, c->batch, c->shared, c->M, c->N, c->K, ga->data, gb->data,
                     gc->data, LB_BF16);
    float *got = host(gc);
    char w2[200];
    snprintf(w2, sizeof w2, "%s: forward", what);
    check(w2, got, ref, s, NULL, nc, c->K, true, false);
    free(got);

    /* backward: grads preseeded, which it must add to */
    float *rda = filled(na, PRESEED), *rdb = filled(nb, PRESEED);
    float *sda = filled(na, PRESEED), *sdb = filled(nb, PRESEED);
    cpu_matmul(c, a, b, NULL, dc, rda, rdb);
    cpu_matmul(c, aa, ab, NULL, adc, sda, sdb);
    float *pre_a = filled(na, PRESEED), *pre_b = filled(nb, PRESEED);
    lb_tensor *gdc = dev(LB_BF16, dc, nc), *gda = dev(c->da_type, pre_a, na),
              *gdb = dev(c->db_type, pre_b, nb);
    lb_cuda_gemm_bwd(&g_gpu, c->ta, c->tb, c->batch, c->shared, c->M, c->N, c->K, ga->data, gb->data,
                     gdc->data, gda->data, c->da_type, gdb->data, c->db_type);
    float *gota = host(gda), *gotb = host(gdb);
    snprintf(w2, sizeof w2, "%s: da", what);
    check(w2, gota, rda, sda, NULL, na, c->N, c->da_type == LB_BF16, true);
    snprintf(w2, sizeof w2, "%s: db", what);
    check(w2, gotb, rdb, sdb, NULL, nb, c->shared ? c->batch * c->M : c->M, c->db_type == LB_BF16,
          true);

    free(gota); free(gotb); free(pre_a); free(pre_b);
    free(rda); free(rdb); free(sda); free(sdb);
    free(poison); free(ref); free(s);
    free(a); free(b); free(dc); free(aa); free(ab); free(adc);
    lb_ctx_step_end(&g_gpu);
}

/* sizes: 1, 7, 37, 129, 384, 1000, 4099 in every position, one large dim at
 * a time (the CPU reference stays fast), plus an aligned case for the fast
 * kernels and an empty reduction (K = 0: the output is zeros). */
static const int64_t mm_sizes[][3] = {
    {1, 1, 1},     {7, 37, 129},  {37, 7, 1000}, {129, 384, 7},  {384, 129, 37},
    {1000, 7, 384}, {4099, 37, 7}, {7, 4099, 37}, {37, 7, 4099},  {129, 1000, 1},
    {128, 256, 64}, {7, 5, 0},
};
#define N_MM_SIZES (int)(sizeof mm_sizes / sizeof mm_sizes[0])

static void sweep_2d(void)
{
    for (int i = 0; i < N_MM_SIZES; i++)
        for (int t = 0; t < 4; t++) {
            mm_case c = {.ta = t & 1, .tb = (t >> 1) & 1, .shared = true, .batch = 1,
                         .M = mm_sizes[i][0], .N = mm_sizes[i][1], .K = mm_sizes[i][2],
                         .da_type = LB_BF16, .db_type = (i & 1) ? LB_F32 : LB_BF16};
            check_matmul(&c, 100 + 10 * (uint64_t)i + (uint64_t)t);
        }
}

static void sweep_batched(void)
{
    static const int64_t sz[][4] = {{3, 37, 129, 7}, {5, 8, 16, 32}, {2, 129, 7, 384}, {4, 1, 37, 129}};
    for (int i = 0; i < 4; i++)
        for (int t = 0; t < 8; t++) {
            mm_case c = {.ta = t & 1, .tb = (t >> 1) & 1, .shared = (t >> 2) & 1, .batch = sz[i][0],
                         .M = sz[i][1], .N = sz[i][2], .K = sz[i][3], .da_type = LB_BF16,
                         /* a shared B is a weight-like operand: f32 grad */
                         .db_type = (t >> 2) & 1 ? LB_F32 : LB_BF16};
            check_matmul(&c, 500 + 10 * (uint64_t)i + (uint64_t)t);
        }
}

static void test_gemm_2d(void) { sweep_2d(); }
static void test_gemm_batched(void) { sweep_batched(); }

/* ---- lb_cuda_linear_fwd / _bwd ----------------------------------------------- */

/* y_type: the output's dtype, and dx's (x's dtype); dw, dbias are f32.
 * overwrite: dx, dw and dbias start as NaN and are overwritten (the
 * backward's fresh grads, a parameter grad marked zero), compared with a CPU
 * backward from zero; else all grads start at PRESEED and are accumulated
 * into. */
static void check_linear_k(int64_t M, int64_t N, int64_t K, bool with_bias, lb_dtype y_type,
                           bool overwrite, uint64_t seed)
{
    char what[128];
    snprintf(what, sizeof what, "linear M=%lld N=%lld K=%lld %s y=%s%s", (long long)M, (long long)N,
             (long long)K, with_bias ? "bias" : "no bias", lb_dtype_name(y_type),
             overwrite ? " overwrite" : "");
    float *x = rand_bf16(M * K, seed), *w = rand_bf16(N * K, seed + 1), *dy = rand_bf16(M * N, seed + 2);
    float *bias = alloc_f(N);
    lb_test_rand(bias, N, seed + 3, -1.0f, 1.0f);   /* f32, as the parameter is */
    float *ax = absolute(x, M * K), *aw = absolute(w, N * K), *ady = absolute(dy, M * N),
          *abias = absolute(bias, N);

    float *ref = alloc_f(M * N), *s = alloc_f(M * N);
    float *brow = alloc_f(M * N);   /* |bias| per output element */
    lb_cpu_linear_fwd(x, w, with_bias ? bias : NULL, ref, M, N, K);
    lb_cpu_linear_fwd(ax, aw, with_bias ? abias : NULL, s, M, N, K);
    for (int64_t i = 0; i < M * N; i++) brow[i] = with_bias ? abias[i % N] : 0.0f;

    float *poison = filled(M * N, NAN);
    lb_tensor *gx = dev(LB_BF16, x, M * K), *gw = dev(LB_BF16, w, N * K), *gy = dev(y_type, poison, M * N);
    lb_tensor *gb = dev(LB_F32, bias, N);
    lb_cuda_linear_fwd(&g_gpu, gx->data, gw->data, with_bias ? gb->data : NULL, gy->data, y_type, M, N, K);
    float *got = host(gy);
    char w2[160];
    snprintf(w2, sizeof w2, "%s: forward", what);
    check(w2, got, ref, s, brow, M * N, K + 1, y_type == LB_BF16, with_bias);
    free(got);

    float start = overwrite ? 0.0f : PRESEED, gstart = overwrite ? NAN : PRESEED;
    float *rdx = filled(M * K, start), *rdw = filled(N * K, start), *rdb = filled(N, start);
    float *sdx = filled(M * K, start), *sdw = filled(N * K, start), *sdb = filled(N, start);
    lb_cpu_linear_bwd(x, w, dy, rdx, rdw, false, with_bias ? rdb : NULL, false, M, N, K);
    lb_cpu_linear_bwd(ax, aw, ady, sdx, sdw, false, with_bias ? sdb : NULL, false, M, N, K);
    /* without a bias dbias is untouched: compared as it was */
    float *pdx = filled(M * K, gstart), *pdw = filled(N * K, gstart), *pdb = filled(N, with_bias ? gstart : start);
    lb_tensor *gdy = dev(LB_BF16, dy, M * N), *gdx = dev(y_type, pdx, M * K),
              *gdw = dev(LB_F32, pdw, N * K), *gdb = dev(LB_F32, pdb, N);
    lb_cuda_linear_bwd(&g_gpu, gx->data, gw->data, gdy->data, gdx->data, y_type, overwrite,
                       gdw->data, LB_F32, overwrite, with_bias ? gdb->data : NULL, overwrite, M, N, K);
    float *gotx = host(gdx), *gotw = host(gdw), *gotb = host(gdb);
    snprintf(w2, sizeof w2, "%s: dx", what);
    check(w2, gotx, rdx, sdx, NULL, M * K, N, y_type == LB_BF16, true);
    snprintf(w2, sizeof w2, "%s: dw (f32)", what);
    check(w2, gotw, rdw, sdw, NULL, N * K, M, false, true);
    snprintf(w2, sizeof w2, "%s: dbias (f32)", what);
    check(w2, gotb, rdb, sdb, NULL, N, M, false, true);

    free(gotx); free(gotw); free(gotb); free(pdx); free(pdw); free(pdb);
    free(rdx); free(rdw); free(rdb); free(sdx); free(sdw); free(sdb);
    free(poison); free(ref); free(s); free(brow);
    free(x); free(w); free(dy); free(bias); free(ax); free(aw); free(ady); free(abias);
    lb_ctx_step_end(&g_gpu);
}

static void sweep_linear(void)
{
    for (int i = 0; i < N_MM_SIZES; i++)
        for (int bias = 0; bias < 2; bias++)
            check_linear_k(mm_sizes[i][0], mm_sizes[i][1], mm_sizes[i][2], bias,
                           i % 4 == 3 ? LB_F32 : LB_BF16, (i + bias) % 2 == 1,
                           900 + 10 * (uint64_t)i + (uint64_t)bias);
}

static void test_linear(void) { sweep_linear(); }

/* The same sweeps on the plain kernel (what runs when cuBLASLt refuses a
 * problem). */
static void test_fallback_kernel(void)
{
    lb_cuda_gemm_force_fallback(&g_gpu, true);
    sweep_2d();
    sweep_batched();
    sweep_linear();
    lb_cuda_gemm_force_fallback(&g_gpu, false);
}

/* ---- lb_linear and lb_matmul on CUDA tensors, through the tape ------------ */

/* cpu_tensor: a CPU step tensor (f32) of the given shape holding x. */
static lb_tensor *cpu_tensor(lb_ctx *ctx, const float *x, int ndim, const int64_t *shape, bool grad)
{
    lb_tensor *t = lb_tensor_new(ctx, LB_F32, ndim, shape);
    memcpy(t->data, x, (size_t)lb_tensor_numel(t) * sizeof(float));
    t->requires_grad = grad;
    return t;
}

/* param: a persistent f32 CUDA tensor (a parameter: f32 master, f32 grad,
 * bf16 lowp copy for the GEMMs) holding x. Free with lb_tensor_free. */
static lb_tensor *param(const float *x, int ndim, const int64_t *shape)
{
    lb_tensor *t = lb_tensor_alloc_dev(LB_CUDA, LB_F32, ndim, shape);
    lb_tensor_copy_from_host(&g_gpu, t, x);
    lb_param_refresh_lowp(&g_gpu, t);
    t->requires_grad = true;
    return t;
}

/* activation: a bf16 CUDA step tensor holding x (bf16 values). */
static lb_tensor *activation(const float *x, int ndim, const int64_t *shape)
{
    lb_tensor *t = lb_tensor_new_dev(&g_gpu, LB_CUDA, LB_BF16, ndim, shape);
    lb_tensor_copy_from_host(&g_gpu, t, x);
    t->requires_grad = true;
    return t;
}

/* run_tape: seeds out's grad with dy (host values) and runs ctx's tape. */
static void run_tape(lb_ctx *ctx, lb_tensor *out, const float *dy)
{
    lb_tensor *g = lb_grad_of(ctx, out);
    lb_tensor_copy_from_host(ctx, g, dy);
    for (lb_node *n = ctx->tape; n; n = n->prev)
        if (n->out->grad) n->backward(ctx, n);
}

typedef lb_tensor *(*op2_fn)(lb_ctx *ctx, lb_tensor **in);

/* check_op: runs op on the CPU for values v[] and, in a second context, for
 * |v[]| (the bounds' S), forward and backward with the output grad dy (and
 * |dy|), and checks the CUDA op's output gout and the grads of its inputs
 * gin (whose tape the caller recorded) against them. red_len: the
 * reduction length of the output, then of each input's grad. */
static void check_op(const char *what, op2_fn op, int n_in, float *const *v, const int *ndim,
                     const int64_t (*shape)[4], lb_tensor **gin, lb_tensor *gout, const float *dy,
                     int64_t dy_n, const int64_t *red_len)
{
    lb_ctx c1, c2;
    lb_ctx_init(&c1, LB_CPU);   /* a CPU context cannot fail to start */
    lb_ctx_init(&c2, LB_CPU);
    lb_tensor *in1[3], *in2[3];
    float *abs_v[3], *ady = absolute(dy, dy_n);
    for (int i = 0; i < n_in; i++) {
        int64_t n = 1;
        for (int d = 0; d < ndim[i]; d++) n *= shape[i][d];
        abs_v[i] = absolute(v[i], n);
        in1[i] = cpu_tensor(&c1, v[i], ndim[i], shape[i], true);
        in2[i] = cpu_tensor(&c2, abs_v[i], ndim[i], shape[i], true);
    }
    lb_tensor *o1 = op(&c1, in1), *o2 = op(&c2, in2);
    LB_EXPECTF(gout->device == LB_CUDA && gout->dtype == gin[0]->dtype &&
                   lb_tensor_same_shape(gout, o1),
               "%s: output is %s %s %s", what, lb_device_name(gout->device),
               lb_dtype_name(gout->dtype), lb_tensor_shape_str(gout, (char[96]){0}, 96));
    run_tape(&c1, o1, dy);
    run_tape(&c2, o2, ady);
    run_tape(&g_gpu, gout, dy);
    char w2[160];
    float *got = host(gout);
    snprintf(w2, sizeof w2, "%s: output", what);
    /* a bias (linear: the third input) makes the epilogue round twice */
    check(w2, got, o1->data, o2->data, NULL, lb_tensor_numel(o1), red_len[0],
          gout->dtype == LB_BF16, n_in == 3);
    free(got);
    for (int i = 0; i < n_in; i++) {
        LB_EXPECTF(gin[i]->grad && gin[i]->grad->dtype == gin[i]->dtype, "%s: grad %d missing or of "
                   "the wrong dtype", what, i);
        if (!gin[i]->grad) continue;
        got = host(gin[i]->grad);
        snprintf(w2, sizeof w2, "%s: grad of input %d", what, i);
        check(w2, got, in1[i]->grad->data, in2[i]->grad->data, NULL, lb_tensor_numel(in1[i]),
              red_len[1 + i], gin[i]->dtype == LB_BF16, true);
        free(got);
    }
    for (int i = 0; i < n_in; i++) free(abs_v[i]);
    free(ady);
    lb_ctx_free(&c1);
    lb_ctx_free(&c2);
}

static lb_tensor *op_linear(lb_ctx *ctx, lb_tensor **in) { return lb_linear(ctx, in[0], in[1], in[2]); }
static lb_tensor *op_matmul_nt(lb_ctx *ctx, lb_tensor **in) { return lb_matmul(ctx, in[0], in[1], false, true); }
static lb_tensor *op_matmul_tn(lb_ctx *ctx, lb_tensor **in) { return lb_matmul(ctx, in[0], in[1], true, false); }

/* lb_linear: x (2, 7, 37) bf16 activation, w (13, 37) and bias (13) f32
 * parameters; the bias is f32, not rounded to bf16 */
static void test_op_linear(void)
{
    float *x = rand_bf16(2 * 7 * 37, 71), *w = rand_bf16(13 * 37, 72), *dy = rand_bf16(2 * 7 * 13, 73);
    float *b = alloc_f(13);
    lb_test_rand(b, 13, 74, -1.0f, 1.0f);
    const int64_t shapes[3][4] = {{2, 7, 37}, {13, 37}, {13}};
    const int nd[3] = {3, 2, 1};
    lb_tensor *gx = activation(x, 3, shapes[0]), *gw = param(w, 2, shapes[1]), *gb = param(b, 1, shapes[2]);
    lb_tensor *gin[3] = {gx, gw, gb};
    lb_tensor *gy = lb_linear(&g_gpu, gx, gw, gb);
    float *v[3] = {x, w, b};
    /* output: K + bias; dx sums over N; dw and db over M = 14 rows */
    const int64_t red[4] = {38, 13, 14, 14};
    check_op("lb_linear cuda", op_linear, 3, v, nd, shapes, gin, gy, dy, 2 * 7 * 13, red);
    lb_tensor_free(gw);
    lb_tensor_free(gb);
    free(x); free(w); free(dy); free(b);
    lb_ctx_step_end(&g_gpu);
}

/* lb_matmul: a (2, 3, 5, 7) activation times a shared f32 parameter b
 * (9, 7) transposed (an output head's shape), and a batched pair of
 * activations with a transposed. */
static void test_op_matmul(void)
{
    {
        float *a = rand_bf16(2 * 3 * 5 * 7, 81), *b = rand_bf16(9 * 7, 82), *dy = rand_bf16(2 * 3 * 5 * 9, 83);
        const int64_t shapes[2][4] = {{2, 3, 5, 7}, {9, 7}};
        const int nd[2] = {4, 2};
        lb_tensor *ga = activation(a, 4, shapes[0]), *gb = param(b, 2, shapes[1]);
        lb_tensor *gin[2] = {ga, gb};
        lb_tensor *gy = lb_matmul(&g_gpu, ga, gb, false, true);
        float *v[2] = {a, b};
        const int64_t red[3] = {7, 9, 30};
        check_op("lb_matmul cuda shared f32 b, tb", op_matmul_nt, 2, v, nd, shapes, gin, gy, dy, 270, red);
        lb_tensor_free(gb);
        free(a); free(b); free(dy);
        lb_ctx_step_end(&g_gpu);
    }
    {
        float *a = rand_bf16(6 * 37 * 5, 84), *b = rand_bf16(6 * 37 * 11, 85), *dy = rand_bf16(6 * 5 * 11, 86);
        const int64_t shapes[2][4] = {{6, 37, 5}, {6, 37, 11}};
        const int nd[2] = {3, 3};
        lb_tensor *ga = activation(a, 3, shapes[0]), *gb = activation(b, 3, shapes[1]);
        lb_tensor *gin[2] = {ga, gb};
        lb_tensor *gy = lb_matmul(&g_gpu, ga, gb, true, false);
        float *v[2] = {a, b};
        const int64_t red[3] = {37, 11, 5};
        check_op("lb_matmul cuda batched, ta", op_matmul_tn, 2, v, nd, shapes, gin, gy, dy, 330, red);
        free(a); free(b); free(dy);
        lb_ctx_step_end(&g_gpu);
    }
}

#ifdef LB_HAVE_CUDA
/* ---- --bench ------------------------------------------------------------------- */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void bench_linear(int64_t M, int64_t N, int64_t K, bool with_bias)
{
    float *x = rand_bf16(M * K, 1), *w = rand_bf16(N * K, 2), *bias = rand_bf16(N, 3);
    lb_tensor *gx = dev(LB_BF16, x, M * K), *gw = dev(LB_BF16, w, N * K), *gb = dev(LB_F32, bias, N);
    lb_tensor *gy = lb_tensor_new_dev(&g_gpu, LB_CUDA, LB_BF16, 2, (int64_t[]){M, N});
    for (int i = 0; i < 5; i++)
        lb_cuda_linear_fwd(&g_gpu, gx->data, gw->data, with_bias ? gb->data : NULL, gy->data, LB_BF16, M, N, K);
    cudaStream_t st = lb_cuda_stream(&g_gpu);
    cudaEvent_t e0, e1;
    LB_CUDA_CHECK(cudaEventCreate(&e0));
    LB_CUDA_CHECK(cudaEventCreate(&e1));
    float ms[20];
    for (int i = 0; i < 20; i++) {
        LB_CUDA_CHECK(cudaEventRecord(e0, st));
        lb_cuda_linear_fwd(&g_gpu, gx->data, gw->data, with_bias ? gb->data : NULL, gy->data, LB_BF16, M, N, K);
        LB_CUDA_CHECK(cudaEventRecord(e1, st));
        LB_CUDA_CHECK(cudaEventSynchronize(e1));
        LB_CUDA_CHECK(cudaEventElapsedTime(&ms[i], e0, e1));
    }
    qsort(ms, 20, sizeof ms[0], cmp_float);
    double med = 0.5 * (ms[9] + ms[10]);
    printf("linear fwd M=%-5lld N=%-5lld K=%-5lld %-7s median %.3f ms  %.0f TFLOP/s  (min %.3f, max %.3f ms)\n",
           (long long)M, (long long)N, (long long)K, with_bias ? "bias" : "no bias", med,
           2.0 * (double)M * (double)N * (double)K / (med * 1e-3) / 1e12, ms[0], ms[19]);
    if (with_bias) {
        /* backward: dx (bf16) += and dw (f32 master grad) +=, dbias +=; 4MNK flops */
        lb_tensor *gdx = lb_tensor_zeros_dev(&g_gpu, LB_CUDA, LB_BF16, 2, (int64_t[]){M, K});
        lb_tensor *gdw = lb_tensor_zeros_dev(&g_gpu, LB_CUDA, LB_F32, 2, (int64_t[]){N, K});
        lb_tensor *gdb = lb_tensor_zeros_dev(&g_gpu, LB_CUDA, LB_F32, 1, (int64_t[]){N});
        for (int i = 0; i < 3; i++)
            lb_cuda_linear_bwd(&g_gpu, gx->data, gw->data, gy->data, gdx->data, LB_BF16, false, gdw->data,
                               LB_F32, false, gdb->data, false, M, N, K);
        for (int i = 0; i < 20; i++) {
            LB_CUDA_CHECK(cudaEventRecord(e0, st));
            lb_cuda_linear_bwd(&g_gpu, gx->data, gw->data, gy->data, gdx->data, LB_BF16, false, gdw->data,
                               LB_F32, false, gdb->data, false, M, N, K);
            LB_CUDA_CHECK(cudaEventRecord(e1, st));
            LB_CUDA_CHECK(cudaEventSynchronize(e1));
            LB_CUDA_CHECK(cudaEventElapsedTime(&ms[i], e0, e1));
        }
        qsort(ms, 20, sizeof ms[0], cmp_float);
        med = 0.5 * (ms[9] + ms[10]);
        printf("linear bwd M=%-5lld N=%-5lld K=%-5lld dx+dw+db median %.3f ms  %.0f TFLOP/s  (min %.3f, max %.3f ms)\n",
               (long long)M, (long long)N, (long long)K, med,
               4.0 * (double)M * (double)N * (double)K / (med * 1e-3) / 1e12, ms[0], ms[19]);
    }
    LB_CUDA_CHECK(cudaEventDestroy(e0));
    LB_CUDA_CHECK(cudaEventDestroy(e1));
    free(x); free(w); free(bias);
    lb_ctx_step_end(&g_gpu);
}

static int bench(void)
{
    static const int64_t shapes[][3] = {{8192, 5632, 2048}, {8192, 2048, 5632}, {8192, 32000, 2048}};
    for (int i = 0; i < 3; i++)
        for (int bias = 0; bias < 2; bias++) bench_linear(shapes[i][0], shapes[i][1], shapes[i][2], bias);
    int64_t plans, fallback, split;
    lb_cuda_gemm_stats(&g_gpu, &plans, &fallback, &split);
    printf("plans built %lld, on the fallback kernel %lld, split-K %lld\n", (long long)plans,
           (long long)fallback, (long long)split);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* lines reach a log even if a check aborts */
    if (!lb_cuda_available()) {
        printf("no usable CUDA GPU: skipped\n");
        return 77;
    }
    lb_status st = lb_ctx_init(&g_gpu, LB_CUDA);
    if (lb_failed(&st)) {
        fprintf(stderr, "cuda ctx init: %s\n", st.msg);
        return 1;
    }
#ifdef LB_HAVE_CUDA
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        int rc = bench();
        lb_ctx_free(&g_gpu);
        return rc;
    }
#endif
    LB_RUN(test_gemm_2d);
    LB_RUN(test_gemm_batched);
    LB_RUN(test_linear);
    LB_RUN(test_op_linear);
    LB_RUN(test_op_matmul);
    int64_t plans, fallback, split;
    lb_cuda_gemm_stats(&g_gpu, &plans, &fallback, &split);
    printf("plans built %lld: cuBLASLt refused %lld (ran on the fallback kernel), split-K %lld\n",
           (long long)plans, (long long)fallback, (long long)split);
    LB_RUN(test_fallback_kernel);
    lb_ctx_free(&g_gpu);
    return lb_test_summary();
}
