/* gpu_ops_check.h — helpers of the CUDA-vs-CPU op tests of the norm, rope,
 * embedding, softmax/loss and view families (tests/test_gpu_*.c).
 *
 * Each case draws fresh random inputs, rounds them to bf16 once on the host
 * (so both devices compute the same function of the same numbers), runs the
 * op on the CPU (f32, the specification) and on CUDA (bf16 activations, f32
 * parameters), then the backward from the same random bf16 dout with every
 * grad preseeded to the same random bf16 values on both sides (a kernel
 * that overwrote instead of accumulating fails). Before each CUDA run the
 * pool is poisoned with NaN (gpc_poison_pool of gpu_check.h), so the op's
 * outputs are carved out of poisoned memory and an element a kernel never
 * writes shows up as NaN, which always fails the comparison. (gpu_check.h
 * preseeds with one constant; these tests use random values per element,
 * and exact comparisons where both devices round the same way.)
 *
 * Errors are max |gpu - cpu| / max(max |cpu|, GX_FLOOR) over a tensor; the
 * tests derive their tolerances from bf16's unit roundoff u = 2^-8 (8
 * significant bits, 7 stored: rounding to nearest errs by half an ulp,
 * 2^-8 of the value at most).
 * Static inline: each test binary is one test file plus harness.c.
 */
#ifndef LB_TESTS_GPU_OPS_CHECK_H
#define LB_TESTS_GPU_OPS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/ctx.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "harness.h"
#include "gpu_check.h"
#include "kernels/cuda/cuda.h"

#define GX_FLOOR 1e-3

/* bytes of pool memory poisoned before each CUDA run: more than any case's
 * step allocations (the largest, 5 x 128256 bf16 logits and their grad, is
 * ~2.6 MB) */
#define GX_POISON_BYTES ((size_t)64 << 20)

/* gx_have_gpu: true when a CUDA GPU is usable, else marks the test skipped. */
static inline bool gx_have_gpu(void)
{
    if (lb_cuda_available()) return true;
    lb_test_skip("no CUDA GPU");
    return false;
}

static inline void gx_ctx(lb_ctx *ctx, lb_device dev)
{
    lb_status st = lb_ctx_init(ctx, dev);
    if (lb_failed(&st)) {
        fprintf(stderr, "ctx init: %s\n", st.msg);
        abort();
    }
}

static inline float gx_round_bf16(float v) { return lb_bf16_to_f32(lb_f32_to_bf16(v)); }

/* gx_rand: n malloc'd floats in [lo, hi), rounded to bf16 (free them). */
static inline float *gx_rand(int64_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    lb_test_rand(x, n, seed, lo, hi);
    for (int64_t i = 0; i < n; i++) x[i] = gx_round_bf16(x[i]);
    return x;
}

/* gx_tensor: a step tensor on dev (f32 on the CPU, dt on CUDA) holding
 * host's values. */
static inline lb_tensor *gx_tensor(lb_ctx *ctx, lb_device dev, lb_dtype dt, const float *host,
                                   int ndim, const int64_t *shape, bool requires_grad)
{
    lb_tensor *t = lb_tensor_new_dev(ctx, dev, dev == LB_CPU ? LB_F32 : dt, ndim, shape);
    lb_tensor_copy_from_host(ctx, t, host);
    t->requires_grad = requires_grad;
    return t;
}

/* gx_param: a persistent f32 tensor on dev holding host's values, requiring
 * grad (free with lb_tensor_free). */
static inline lb_tensor *gx_param(lb_ctx *ctx, lb_device dev, const float *host, int ndim,
                                  const int64_t *shape)
{
    lb_tensor *t = lb_tensor_alloc_dev(dev, LB_F32, ndim, shape);
    lb_tensor_copy_from_host(ctx, t, host);
    t->flags |= LB_TENSOR_PERSISTENT;
    t->requires_grad = true;
    return t;
}

/* gx_ids: an i32 step tensor on dev holding ids. */
static inline lb_tensor *gx_ids(lb_ctx *ctx, lb_device dev, const int32_t *ids, int ndim,
                                const int64_t *shape)
{
    lb_tensor *t = lb_tensor_new_dev(ctx, dev, LB_I32, ndim, shape);
    if (dev == LB_CUDA) lb_cuda_memcpy_h2d(ctx, t->data, ids, lb_tensor_nbytes(t));
    else memcpy(t->data, ids, lb_tensor_nbytes(t));
    return t;
}

/* gx_poison: NaN into GX_POISON_BYTES of the pool (call before making the
 * case's CUDA tensors). */
static inline void gx_poison(lb_ctx *ctx) { gpc_poison_pool(ctx, GX_POISON_BYTES); }

/* gx_host: t's values widened to f32 in a malloc'd array (free it). */
static inline float *gx_host(lb_ctx *ctx, const lb_tensor *t)
{
    int64_t n = lb_tensor_numel(t);
    float *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    lb_tensor_copy_to_host(ctx, t, h);
    return h;
}

/* gx_err: max |a - b| / max(max |b|, GX_FLOOR); INFINITY when any a is not
 * finite. */
static inline double gx_err(const float *a, const float *b, int64_t n)
{
    double num = 0.0, den = GX_FLOOR;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > num) num = d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return num / den;
}

/* gx_expect: compares the CUDA tensor g with the CPU tensor c. */
static inline void gx_expect(lb_ctx *gctx, const lb_tensor *g, lb_ctx *cctx, const lb_tensor *c,
                             double tol, const char *what)
{
    LB_EXPECTF(lb_tensor_numel(g) == lb_tensor_numel(c), "%s: sizes differ", what);
    int64_t n = lb_tensor_numel(c);
    float *gh = gx_host(gctx, g), *ch = gx_host(cctx, c);
    double err = gx_err(gh, ch, n);
    if (getenv("GX_VERBOSE")) printf("    %s: %.3g (tol %.3g)\n", what, err, tol);
    LB_EXPECTF(err <= tol, "%s: rel err %.3g > tol %.3g", what, err, tol);
    free(gh);
    free(ch);
}

/* gx_expect_exact: every element of g equals the CPU value rounded to g's
 * dtype (for copies and single additions, which both devices round the
 * same way). */
static inline void gx_expect_exact(lb_ctx *gctx, const lb_tensor *g, lb_ctx *cctx,
                                   const lb_tensor *c, const char *what)
{
    int64_t n = lb_tensor_numel(c), bad = 0, first = -1;
    float *gh = gx_host(gctx, g), *ch = gx_host(cctx, c);
    for (int64_t i = 0; i < n; i++) {
        float want = g->dtype == LB_BF16 ? gx_round_bf16(ch[i]) : ch[i];
        if (memcmp(&gh[i], &want, sizeof want) != 0) {
            if (first < 0) first = i;
            bad++;
        }
    }
    LB_EXPECTF(bad == 0, "%s: %lld of %lld elements differ, first at %lld: %g vs %g", what,
               (long long)bad, (long long)n, (long long)first, first >= 0 ? gh[first] : 0.0,
               first >= 0 ? ch[first] : 0.0);
    free(gh);
    free(ch);
}

/* gx_preseed: sets t's grad (allocated on first use) to host's values. */
static inline void gx_preseed(lb_ctx *ctx, lb_tensor *t, const float *host)
{
    lb_tensor_copy_from_host(ctx, lb_grad_of(ctx, t), host);
}

/* gx_backward: seeds out's grad with dout (host) and runs the tape. */
static inline void gx_backward(lb_ctx *ctx, lb_tensor *out, const float *dout)
{
    lb_tensor_copy_from_host(ctx, lb_grad_of(ctx, out), dout);
    for (lb_node *n = ctx->tape; n; n = n->prev)
        if (n->out->grad) n->backward(ctx, n);
}

/* gx_bench: the median over `runs` runs (after 3 warm-ups) of fn(ctx, arg),
 * each between device synchronizations, in microseconds (host clock). */
static inline double gx_bench_us(lb_ctx *ctx, void (*fn)(lb_ctx *, void *), void *arg, int runs)
{
    double t[64];
    if (runs > 64) runs = 64;
    for (int r = -3; r < runs; r++) {
        struct timespec a, b;
        lb_cuda_sync(ctx);
        clock_gettime(CLOCK_MONOTONIC, &a);
        fn(ctx, arg);
        lb_cuda_sync(ctx);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (r >= 0) t[r] = 1e6 * ((double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec));
    }
    for (int i = 1; i < runs; i++)   /* insertion sort: runs is small */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[runs / 2];
}

/* gx_bench_wanted: true with LOWBIT_BENCH=1 (and a GPU), else the test is
 * marked skipped. */
static inline bool gx_bench_wanted(void)
{
    if (!gx_have_gpu()) return false;
    if (getenv("LOWBIT_BENCH")) return true;
    lb_test_skip("set LOWBIT_BENCH=1 to time");
    return false;
}

#endif
