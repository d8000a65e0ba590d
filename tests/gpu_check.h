/* gpu_check.h — the CUDA-against-CPU checking helpers shared by the GPU op
 * tests (tests/test_gpu_*.c); the GPU counterpart of ops_check.h.
 *
 * The CPU fp32 path is the specification: a GPU test draws fresh random
 * inputs, rounds them to the GPU dtype first (so both sides read identical
 * values), runs the op in one CPU and one CUDA context, and compares the
 * CUDA result with the CPU one under a tolerance derived from the GPU
 * dtype. Backward: the same output grad (rounded to the GPU dtype) is
 * seeded on both sides, every input grad is pre-seeded with OPC_PRESEED on
 * both (so accumulate-vs-overwrite is checked too), and the tapes run.
 * Outputs cannot be poisoned before an op makes them, so gpc_poison_pool
 * fills the pool's free memory with NaN first: an element a kernel forgot
 * to write reads NaN, and NaN never passes.
 *
 * main() of a GPU test starts with GPC_SKIP_WITHOUT_GPU() (exit 77:
 * reported skipped, not passed). Static inline like ops_check.h: each test
 * binary is one test file plus harness.c.
 */
#ifndef LB_TESTS_GPU_CHECK_H
#define LB_TESTS_GPU_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"
#include "ops_check.h"

/* bf16 keeps p = 8 significant bits (7 stored), so one rounding to nearest
 * errs by at most u = 2^-p = 2^-8 relative (its unit roundoff; measured on
 * an H100: single roundings reach 0.99 u). */
#define GPC_U_BF16 (1.0 / 256.0)

/* gpc_tol: the tolerance, relative to max(max|ref|, OPC_FLOOR), for a GPU
 * result of dtype dt whose elements each go through a reduction of length k
 * (0 for pointwise) computed in fp32, against the fp32 CPU result on the
 * same (already rounded) inputs.
 *   bf16: the GPU computes in fp32 and rounds each output once to bf16
 *         (<= u = 2^-8 relative); budget for two roundings (2u = 2^-7), so
 *         that an op whose bf16 result passes through a second rounding
 *         (an accumulate into a grad holding OPC_PRESEED after a rounded
 *         intermediate) still passes; the two fp32 computations (CPU and GPU, k-term
 *         sums in different orders, libm vs CUDA expf/erff/tanhf within
 *         2 ulp) differ by 2 * opc_tol(k), added on top.
 *   f32:  both sides are fp32 with different libm and summation orders:
 *         2 * opc_tol(k). */
static inline double gpc_tol(lb_dtype dt, int64_t k)
{
    double fp32 = 2.0 * opc_tol(k);
    return dt == LB_BF16 ? 2.0 * GPC_U_BF16 + fp32 : fp32;
}

/* GPC_SKIP_WITHOUT_GPU: in main(): exit 77 when no usable GPU. */
#define GPC_SKIP_WITHOUT_GPU()                                                      \
    do {                                                                            \
        if (!lb_cuda_available()) {                                                 \
            printf("no usable CUDA GPU (or a build without CUDA): skipped\n");      \
            return 77;                                                              \
        }                                                                           \
    } while (0)

/* gpc_ctx: a fresh CUDA context on GPU 0 (aborts on failure). */
static inline void gpc_ctx(lb_ctx *ctx)
{
    lb_status st = lb_ctx_init(ctx, LB_CUDA);
    if (lb_failed(&st)) {
        fprintf(stderr, "CUDA ctx init: %s\n", st.msg);
        abort();
    }
}

/* gpc_round: x rounded through dtype dt and back to f32 (in place). */
static inline void gpc_round(float *x, int64_t n, lb_dtype dt)
{
    if (dt == LB_F32) return;
    uint16_t *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    lb_convert_from_f32(h, x, dt, (size_t)n);
    lb_convert_to_f32(x, h, dt, (size_t)n);
    free(h);
}

/* gpc_pair: the same random values in [lo, hi), rounded to dt, as a CPU
 * f32 step tensor (*c, in cpu) and a CUDA step tensor of dtype dt (*g, in
 * gpu); both get requires_grad. */
static inline void gpc_pair(lb_ctx *cpu, lb_ctx *gpu, int ndim, const int64_t *shape, lb_dtype dt,
                            uint64_t seed, float lo, float hi, bool requires_grad, lb_tensor **c,
                            lb_tensor **g)
{
    *c = lb_tensor_new(cpu, LB_F32, ndim, shape);
    int64_t n = lb_tensor_numel(*c);
    lb_test_rand((*c)->data, n, seed, lo, hi);
    gpc_round((*c)->data, n, dt);
    *g = lb_tensor_new_dev(gpu, LB_CUDA, dt, ndim, shape);
    lb_tensor_copy_from_host(gpu, *g, (*c)->data);
    (*c)->requires_grad = (*g)->requires_grad = requires_grad;
}

/* gpc_poison_pool: fills `bytes` of the pool's memory with NaN (as bf16 and
 * f32 alike: 0x7fc0 halves) and gives it back, so that the next step
 * allocations, which reuse it, start as NaN. */
static inline void gpc_poison_pool(lb_ctx *gpu, size_t bytes)
{
    void *p = lb_cuda_tmp_alloc(gpu, bytes);
    lb_cuda_memset_zero(gpu, p, bytes);
    lb_cuda_add_scalar(gpu, p, NAN, (int64_t)(bytes / 2), LB_BF16);
    lb_cuda_tmp_free(gpu, p);
}

/* gpc_err: max |dev - ref| / max(max|ref|, OPC_FLOOR) over the elements of
 * the CUDA tensor dev against the CPU f32 tensor ref; NaN or inf in dev
 * gives INFINITY. */
static inline double gpc_err(lb_ctx *gpu, const lb_tensor *dev, const lb_tensor *ref)
{
    int64_t n = lb_tensor_numel(ref);
    LB_CHECK(lb_tensor_numel(dev) == n);
    float *got = malloc((size_t)(n ? n : 1) * sizeof *got);
    lb_tensor_copy_to_host(gpu, dev, got);
    const float *r = ref->data;
    double maxdiff = 0.0, maxref = OPC_FLOOR;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            maxdiff = INFINITY;
            break;
        }
        double d = fabs((double)got[i] - (double)r[i]);
        if (d > maxdiff) maxdiff = d;
        if (fabs((double)r[i]) > maxref) maxref = fabs((double)r[i]);
    }
    free(got);
    return maxdiff / maxref;
}

/* gpc_expect_close: gpc_err within tol, else a test failure naming `what`
 * (GPC_VERBOSE=1 prints every error and its tolerance). */
static inline void gpc_expect_close(const char *what, lb_ctx *gpu, const lb_tensor *dev,
                                    const lb_tensor *ref, double tol)
{
    double err = gpc_err(gpu, dev, ref);
    if (getenv("GPC_VERBOSE")) printf("    %s: rel err %.3g (tol %.3g)\n", what, err, tol);
    LB_EXPECTF(err <= tol, "%s: CUDA vs CPU rel err %.3g > tol %.3g", what, err, tol);
}

/* gpc_seed_out_grad: the same random output grad in [-1, 1), rounded to
 * the GPU output's dtype, into out_c's and out_g's grads (overwritten). */
static inline void gpc_seed_out_grad(lb_ctx *cpu, lb_ctx *gpu, lb_tensor *out_c, lb_tensor *out_g,
                                     uint64_t seed)
{
    lb_tensor *gc = lb_grad_of(cpu, out_c), *gg = lb_grad_of(gpu, out_g);
    int64_t n = lb_tensor_numel(gc);
    lb_test_rand(gc->data, n, seed, -1.0f, 1.0f);
    gpc_round(gc->data, n, gg->dtype);
    lb_tensor_copy_from_host(gpu, gg, gc->data);
}

/* gpc_preseed: t's grad (made on first use) set to OPC_PRESEED everywhere,
 * on either device. */
static inline void gpc_preseed(lb_ctx *ctx, lb_tensor *t)
{
    lb_tensor *g = lb_grad_of(ctx, t);
    int64_t n = lb_tensor_numel(g);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = OPC_PRESEED;
    lb_tensor_copy_from_host(ctx, g, v);
    free(v);
}

/* gpc_run_tape: runs ctx's recorded nodes newest-first (output grads
 * already seeded). */
static inline void gpc_run_tape(lb_ctx *ctx)
{
    for (lb_node *n = ctx->tape; n; n = n->prev)
        if (n->out->grad) n->backward(ctx, n);
}

#endif
