/* test_gpu_adamw.c — the CUDA AdamW (one multi-tensor launch,
 * kernels/cuda/adamw.cu) against the CPU specification (train/optim.c).
 *
 * Tensors of awkward sizes: one crossing several LB_ADAMW_CHUNK boundaries
 * and not a multiple of 8, a 2-D weight with a bf16 copy, a 1-D tensor
 * (no decay by default), a single element. Six steps with fresh random
 * gradients (some tiny, so eps matters), a changing lr and grad_scale 0.5.
 * The bf16 copies start poisoned (NaN) and must equal the rounded weights
 * after each step.
 *
 * Tolerance: the kernel evaluates the CPU's expressions in the same order
 * with explicitly rounded fp32 operations (__fmul_rn, __fadd_rn, __fdiv_rn,
 * __fsqrt_rn), so the results are expected bit-identical; ULP_TOL = 2 ulps
 * (relative 2 * 2^-23 of the value, floor 1e-30) allows for a host compiler
 * that contracts a CPU multiply-add into an FMA (one rounding fewer per
 * operation, at most ~1 ulp through the chain). A formula slip is orders of
 * magnitude above that. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"
#include "train/optim.h"

#define NT 4
#define STEPS 6
#define ULP_TOL (2.0 / 8388608.0)

static const int64_t k_shapes[NT][2] = {{3 * 65536 + 1234 + 3, 0}, {129, 77}, {131, 0}, {1, 0}};
static const int k_ndim[NT] = {1, 2, 1, 1};

static double rel_diff(float a, float b)
{
    double d = fabs((double)a - (double)b), s = fabs((double)b);
    return d / (s > 1e-30 ? s : 1e-30);
}

static void run(bool decay_1d)
{
    lb_ctx h, g;
    lb_status st = lb_ctx_init(&h, LB_CPU);
    LB_EXPECT(!lb_failed(&st));
    st = lb_ctx_init(&g, LB_CUDA);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    lb_tensor *pc[NT], *pg[NT];
    int64_t total = 0;
    for (int i = 0; i < NT; i++) {
        pc[i] = lb_tensor_alloc(LB_F32, k_ndim[i], k_shapes[i]);
        pc[i]->grad = lb_tensor_alloc(LB_F32, k_ndim[i], k_shapes[i]);
        int64_t n = lb_tensor_numel(pc[i]);
        lb_test_rand(lb_tensor_f32(pc[i]), n, (uint64_t)(10 + i), -1.0f, 1.0f);
        pg[i] = lb_tensor_alloc_dev(LB_CUDA, LB_F32, k_ndim[i], k_shapes[i]);
        pg[i]->grad = lb_tensor_alloc_dev(LB_CUDA, LB_F32, k_ndim[i], k_shapes[i]);
        lb_tensor_copy_from_host(&g, pg[i], lb_tensor_f32(pc[i]));
        if (k_ndim[i] == 2 || i == 0) { /* bf16 copies on a 1-D tensor too: the kernel must not care */
            pg[i]->lowp = lb_tensor_alloc_dev(LB_CUDA, LB_BF16, k_ndim[i], k_shapes[i]);
            float *nan = malloc((size_t)n * sizeof *nan);
            for (int64_t j = 0; j < n; j++) nan[j] = NAN;
            lb_tensor_copy_from_host(&g, pg[i]->lowp, nan);
            free(nan);
        }
        total += lb_plan_pad(n);
    }
    float *state = lb_cuda_malloc((size_t)(2 * total) * sizeof(float));
    lb_adamw_cfg cfg = lb_adamw_defaults();
    cfg.weight_decay = 0.1f;
    cfg.decay_1d = decay_1d;
    lb_adamw oc, og;
    st = lb_adamw_init(&oc, pc, NT, NULL, &cfg);
    LB_EXPECT(!lb_failed(&st));
    st = lb_adamw_init(&og, pg, NT, state, &cfg);
    LB_EXPECT(!lb_failed(&st));
    double worst = 0;
    int64_t differ = 0, count = 0, lowp_bad = 0;
    for (int t = 1; t <= STEPS; t++) {
        float lr = 3e-3f * (float)(STEPS + 2 - t);
        for (int i = 0; i < NT; i++) {
            int64_t n = lb_tensor_numel(pc[i]);
            float *gr = lb_tensor_f32(pc[i]->grad);
            lb_test_rand(gr, n, (uint64_t)(1000 * t + i), -3.0f, 3.0f);
            for (int64_t j = 0; j < n; j += 5) gr[j] *= 1e-7f;
            lb_tensor_copy_from_host(&g, pg[i]->grad, gr);
        }
        lb_adamw_step(&h, &oc, lr, 0.5f);
        lb_adamw_step(&g, &og, lr, 0.5f);
        for (int i = 0; i < NT; i++) {
            int64_t n = lb_tensor_numel(pc[i]);
            float *x = malloc((size_t)n * sizeof *x);
            lb_tensor_copy_to_host(&g, pg[i], x);
            const float *r = lb_tensor_f32(pc[i]);
            for (int64_t j = 0; j < n; j++) {
                double e = rel_diff(x[j], r[j]);
                if (e > worst) worst = e;
                differ += x[j] != r[j];
            }
            count += n;
            if (pg[i]->lowp) {
                float *l = malloc((size_t)n * sizeof *l);
                lb_tensor_copy_to_host(&g, pg[i]->lowp, l);
                for (int64_t j = 0; j < n; j++) lowp_bad += l[j] != lb_bf16_to_f32(lb_f32_to_bf16(x[j]));
                free(l);
            }
            /* the moments too */
            float *mv = malloc((size_t)n * sizeof *mv);
            lb_cuda_memcpy_d2h(&g, mv, og.m[i], (size_t)n * sizeof *mv);
            for (int64_t j = 0; j < n; j++) {
                double e = rel_diff(mv[j], oc.m[i][j]);
                if (e > worst) worst = e;
            }
            lb_cuda_memcpy_d2h(&g, mv, og.v[i], (size_t)n * sizeof *mv);
            for (int64_t j = 0; j < n; j++) {
                double e = rel_diff(mv[j], oc.v[i][j]);
                if (e > worst) worst = e;
            }
            free(mv);
            free(x);
        }
    }
    LB_EXPECTF(worst <= ULP_TOL, "decay_1d=%d: max relative difference %.3g > %.3g", decay_1d, worst, ULP_TOL);
    LB_EXPECTF(lowp_bad == 0, "decay_1d=%d: %lld bf16 copies are not the rounded weights", decay_1d,
               (long long)lowp_bad);
    printf("  decay_1d=%d: %lld weights x %d steps, %lld not bit-identical, max rel diff %.3g (weights and moments)\n",
           decay_1d, (long long)(count / STEPS), STEPS, (long long)differ, worst);
    lb_adamw_free(&oc);
    lb_adamw_free(&og);
    lb_cuda_free_ptr(state);
    for (int i = 0; i < NT; i++) {
        lb_tensor_free(pc[i]);
        lb_tensor_free(pg[i]);
    }
    lb_ctx_free(&g);
    lb_ctx_free(&h);
}

static void test_adamw_cuda_matches_cpu(void)
{
    run(false);
    run(true);
}

int main(void)
{
    if (!lb_cuda_available()) {
        printf("no usable CUDA GPU: skipped\n");
        return 77;
    }
    LB_RUN(test_adamw_cuda_matches_cpu);
    return lb_test_summary();
}
