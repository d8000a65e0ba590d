/* test_gpu_tensor.c — the CUDA backend's plumbing: contexts, casts and
 * transfers (bit-exact against the CPU conversions), the step pool (freed
 * at step end and reused), persistent tensors and their grads, the bf16
 * copies of parameters, lb_backward on the GPU, the mixed-device refusal
 * and the out-of-memory report. Skipped (77) without a GPU. */
#include <sys/wait.h>
#include <unistd.h>

#include "gpu_check.h"

static lb_ctx g_cpu, g_gpu;

static const int64_t g_sizes[] = {1, 7, 37, 1000, 4099, 65543};

/* special_values: random values over many binades, plus zeros, infinities,
 * bf16 ties, f16 overflow and f16 subnormals */
static void special_values(float *x, int64_t n, uint64_t seed)
{
    lb_test_rand(x, n, seed, -1.0f, 1.0f);
    static const float fixed[] = {0.0f, -0.0f, INFINITY, -INFINITY, 1.00390625f /* bf16 tie */,
                                  65520.0f, 1e-7f, -3e-5f, 6.1e-5f, 1e30f, -1e-30f, 3.0e38f};
    for (int64_t i = 0; i < n; i++) {
        float e = (float)((i * 7919) % 40) - 20.0f;   /* scale across 2^-20 .. 2^19 */
        x[i] = ldexpf(x[i], (int)e);
        if (i % 13 == 0) x[i] = fixed[(i / 13) % (sizeof fixed / sizeof *fixed)];
    }
}

/* f32 -> (GPU) bf16 / f16 must give the CPU's bits; back to f32 is exact */
static void test_casts_bit_exact(void)
{
    for (size_t s = 0; s < sizeof g_sizes / sizeof *g_sizes; s++) {
        int64_t n = g_sizes[s];
        lb_tensor *x = lb_tensor_new(&g_cpu, LB_F32, 1, &n);
        special_values(x->data, n, 5 + s);
        lb_dtype lows[2] = {LB_BF16, LB_F16};
        for (int d = 0; d < 2; d++) {
            uint16_t *want = malloc((size_t)n * 2);
            lb_convert_from_f32(want, x->data, lows[d], (size_t)n);
            /* CPU f32 -> CUDA low (staged copy + kernel), then raw back */
            lb_tensor *g = lb_tensor_to(&g_gpu, x, LB_CUDA, lows[d]);
            lb_tensor *back = lb_tensor_to(&g_gpu, g, LB_CPU, lows[d]);
            LB_EXPECTF(memcmp(back->data, want, (size_t)n * 2) == 0, "%s, n=%lld: bits differ",
                       lb_dtype_name(lows[d]), (long long)n);
            /* CUDA f32 -> CUDA low (kernel) */
            lb_tensor *gf = lb_tensor_to(&g_gpu, x, LB_CUDA, LB_F32);
            lb_tensor *g2 = lb_tensor_to(&g_gpu, gf, LB_CUDA, lows[d]);
            lb_tensor *back2 = lb_tensor_to(&g_gpu, g2, LB_CPU, lows[d]);
            LB_EXPECTF(memcmp(back2->data, want, (size_t)n * 2) == 0,
                       "%s via CUDA f32, n=%lld: bits differ", lb_dtype_name(lows[d]), (long long)n);
            /* low -> f32 on the GPU is exact */
            lb_tensor *wide = lb_tensor_to(&g_gpu, lb_tensor_to(&g_gpu, g, LB_CUDA, LB_F32), LB_CPU,
                                           LB_F32);
            float *wantf = malloc((size_t)n * 4);
            lb_convert_to_f32(wantf, want, lows[d], (size_t)n);
            LB_EXPECTF(memcmp(wide->data, wantf, (size_t)n * 4) == 0, "%s -> f32, n=%lld differs",
                       lb_dtype_name(lows[d]), (long long)n);
            /* lb_tensor_copy_to_host widens the same way */
            float *host = malloc((size_t)n * 4);
            lb_tensor_copy_to_host(&g_gpu, g, host);
            LB_EXPECT(memcmp(host, wantf, (size_t)n * 4) == 0);
            /* bf16 <-> f16 on the GPU goes through f32, like the CPU */
            lb_dtype other = lows[1 - d];
            lb_tensor *x2 = lb_tensor_to(&g_gpu, lb_tensor_to(&g_gpu, g, LB_CUDA, other), LB_CPU, other);
            uint16_t *want2 = malloc((size_t)n * 2);
            lb_convert_from_f32(want2, wantf, other, (size_t)n);
            LB_EXPECTF(memcmp(x2->data, want2, (size_t)n * 2) == 0, "%s -> %s, n=%lld differs",
                       lb_dtype_name(lows[d]), lb_dtype_name(other), (long long)n);
            free(want);
            free(wantf);
            free(want2);
            free(host);
        }
        lb_ctx_step_end(&g_cpu);
        lb_ctx_step_end(&g_gpu);
    }
}

/* ids and other non-float dtypes travel unchanged */
static void test_int_transfer(void)
{
    int64_t n = 4099;
    lb_tensor *ids = lb_tensor_new(&g_cpu, LB_I32, 1, &n);
    for (int64_t i = 0; i < n; i++) ((int32_t *)ids->data)[i] = (int32_t)(i * 2654435761u);
    lb_tensor *back = lb_tensor_to(&g_gpu, lb_tensor_to(&g_gpu, ids, LB_CUDA, LB_I32), LB_CPU, LB_I32);
    LB_EXPECT(memcmp(back->data, ids->data, (size_t)n * 4) == 0);
    lb_ctx_step_end(&g_cpu);
    lb_ctx_step_end(&g_gpu);
}

/* step memory is released at step end and the next step reuses it */
static void test_step_pool(void)
{
    int64_t shapes[3] = {1 << 20, 3 << 18, 12345};
    lb_ctx_step_end(&g_gpu);
    LB_EXPECT(lb_cuda_step_bytes(&g_gpu) == 0);
    size_t reserved[3] = {0};
    for (int step = 0; step < 3; step++) {
        lb_tensor *t[3];
        for (int i = 0; i < 3; i++) t[i] = lb_tensor_zeros_dev(&g_gpu, LB_CUDA, LB_BF16, 1, &shapes[i]);
        size_t want = 0;
        for (int i = 0; i < 3; i++) want += lb_tensor_nbytes(t[i]);
        LB_EXPECTF(lb_cuda_step_bytes(&g_gpu) == want, "step %d holds %zu bytes, expected %zu",
                   step, lb_cuda_step_bytes(&g_gpu), want);
        lb_ctx_step_end(&g_gpu);
        lb_cuda_sync(&g_gpu);
        LB_EXPECT(lb_cuda_step_bytes(&g_gpu) == 0);
        reserved[step] = lb_cuda_pool_reserved(&g_gpu);
    }
    LB_EXPECTF(reserved[2] == reserved[1] && reserved[1] == reserved[0],
               "the pool grew across identical steps: %zu, %zu, %zu bytes", reserved[0], reserved[1],
               reserved[2]);
    LB_EXPECT(lb_cuda_step_peak(&g_gpu) >= (size_t)(shapes[0] + shapes[1] + shapes[2]) * 2);
}

/* zeros_dev is zero even on poisoned pool memory */
static void test_zeros_dev(void)
{
    int64_t n = 4099;
    gpc_poison_pool(&g_gpu, 1 << 20);
    lb_tensor *z = lb_tensor_zeros_dev(&g_gpu, LB_CUDA, LB_BF16, 1, &n);
    float *h = malloc((size_t)n * 4);
    lb_tensor_copy_to_host(&g_gpu, z, h);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += h[i] != 0.0f;
    LB_EXPECTF(bad == 0, "%d elements not zero", bad);
    free(h);
    lb_ctx_step_end(&g_gpu);
}

/* persistent tensors: zeroed, grads f32 persistent on the GPU, lowp copy */
static void test_params(void)
{
    int64_t shape[2] = {37, 1000};
    lb_tensor *w = lb_tensor_alloc_dev(LB_CUDA, LB_F32, 2, shape);
    LB_EXPECT(w && w->device == LB_CUDA && (w->flags & LB_TENSOR_PERSISTENT));
    int64_t n = lb_tensor_numel(w);
    float *h = malloc((size_t)n * 4), *v = malloc((size_t)n * 4);
    lb_tensor_copy_to_host(&g_gpu, w, h);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += h[i] != 0.0f;
    LB_EXPECTF(bad == 0, "lb_tensor_alloc_dev: %d elements not zero", bad);

    lb_test_rand(v, n, 9, -2, 2);
    lb_tensor_copy_from_host(&g_gpu, w, v);
    lb_tensor_copy_to_host(&g_gpu, w, h);
    LB_EXPECT(memcmp(h, v, (size_t)n * 4) == 0);

    for (int rep = 0; rep < 2; rep++) {
        lb_param_refresh_lowp(&g_gpu, w);
        LB_EXPECT(w->lowp && w->lowp->dtype == LB_BF16 && w->lowp->device == LB_CUDA);
        uint16_t *want = malloc((size_t)n * 2);
        lb_convert_from_f32(want, v, LB_BF16, (size_t)n);
        lb_tensor *got = lb_tensor_to(&g_gpu, w->lowp, LB_CPU, LB_BF16);
        LB_EXPECTF(memcmp(got->data, want, (size_t)n * 2) == 0, "lowp after refresh %d differs", rep);
        free(want);
        for (int64_t i = 0; i < n; i++) v[i] = -0.5f * v[i] + 0.25f;   /* an "update" */
        lb_tensor_copy_from_host(&g_gpu, w, v);
    }

    w->requires_grad = true;
    lb_tensor *g = lb_grad_of(&g_gpu, w);
    LB_EXPECT(g->device == LB_CUDA && g->dtype == LB_F32 && (g->flags & LB_TENSOR_PERSISTENT));
    lb_tensor *act = lb_tensor_new_dev(&g_gpu, LB_CUDA, LB_BF16, 2, shape);
    act->requires_grad = true;
    lb_tensor *ga = lb_grad_of(&g_gpu, act);
    LB_EXPECT(ga->device == LB_CUDA && ga->dtype == LB_BF16 && !(ga->flags & LB_TENSOR_PERSISTENT));
    lb_ctx_step_end(&g_gpu);
    lb_tensor_free(w);   /* frees grad and lowp on the device too */
    free(h);
    free(v);
}

/* lb_backward on the GPU: loss = sum(silu(x) * w + b), x bf16 activation,
 * w and b f32 parameters; grads against the CPU */
static void test_backward(void)
{
    int64_t sx[2] = {13, 1000};
    lb_tensor *xc, *xg, *wc, *wg, *bc, *bg;
    gpc_pair(&g_cpu, &g_gpu, 2, sx, LB_BF16, 61, -2, 2, true, &xc, &xg);
    gpc_pair(&g_cpu, &g_gpu, 1, sx + 1, LB_F32, 62, -1, 1, true, &wc, &wg);
    gpc_pair(&g_cpu, &g_gpu, 1, sx + 1, LB_F32, 63, -1, 1, true, &bc, &bg);
    lb_tensor *sc = lb_silu(&g_cpu, xc), *mc = lb_mul(&g_cpu, sc, wc), *ac = lb_add(&g_cpu, mc, bc);
    lb_tensor *lc = lb_sum(&g_cpu, ac);
    lb_tensor *lg = lb_sum(&g_gpu, lb_add(&g_gpu, lb_mul(&g_gpu, lb_silu(&g_gpu, xg), wg), bg));
    LB_EXPECT(lg->device == LB_CUDA && lg->dtype == LB_F32);
    lb_backward(&g_cpu, lc);
    lb_backward(&g_gpu, lg);
    /* the loss: each of the 13000 terms went through three bf16 roundings
     * on the GPU (silu's output, scaled by |w| in the product; the product;
     * the sum with b), each <= 2^-9 of its value, then an fp32 sum (bound
     * of lb_cuda_sum_fwd, test_gpu_elementwise.c) */
    int64_t n = lb_tensor_numel(xc);
    double sum_sw = 0, sum_m = 0, sum_a = 0;
    for (int64_t i = 0; i < n; i++) {
        sum_sw += fabs(((float *)sc->data)[i] * ((float *)wc->data)[i % sx[1]]);
        sum_m += fabs(((float *)mc->data)[i]);
        sum_a += fabs(((float *)ac->data)[i]);
    }
    double bound = GPC_U_BF16 * (sum_sw + sum_m + sum_a) + (double)(n / 256 + 32) * OPC_U32 * sum_a;
    float l;
    lb_tensor_copy_to_host(&g_gpu, lg, &l);
    double ref = ((float *)lc->data)[0];
    LB_EXPECTF(fabs(l - ref) <= bound, "loss %.6g vs %.6g (bound %.3g)", l, ref, bound);
    /* dx = bf16(w * 1) * silu'(x), rounded again to bf16, plus the fp32
     * formula: three roundings' worth of budget covers the two */
    gpc_expect_close("grad x", &g_gpu, xg->grad, xc->grad, 3 * GPC_U_BF16 + 2 * opc_tol(0));
    /* dw sums 13 rows of the bf16-rounded silu output; db sums 13 ones */
    gpc_expect_close("grad w (13 rows)", &g_gpu, wg->grad, wc->grad, gpc_tol(LB_BF16, 13));
    gpc_expect_close("grad b (13 rows)", &g_gpu, bg->grad, bc->grad, gpc_tol(LB_F32, 13));
    LB_EXPECT(wg->grad->dtype == LB_F32 && bg->grad->dtype == LB_F32 && xg->grad->dtype == LB_BF16);
    lb_ctx_step_end(&g_cpu);
    lb_ctx_step_end(&g_gpu);
}

static lb_tensor *g_mixed_a, *g_mixed_b;

static void mixed_add(void) { lb_add(&g_gpu, g_mixed_a, g_mixed_b); }

static void test_mixed_devices_refused(void)
{
    int64_t n = 7;
    g_mixed_a = lb_tensor_new_dev(&g_gpu, LB_CUDA, LB_BF16, 1, &n);
    g_mixed_b = lb_tensor_new(&g_cpu, LB_F32, 1, &n);
    opc_expect_abort(mixed_add, "b is on cpu but the op's first input is on cuda", "mixed add");
    lb_ctx_step_end(&g_cpu);
    lb_ctx_step_end(&g_gpu);
}

/* the out-of-memory report: run in a fresh process (a forked child must not
 * touch the parent's CUDA context) that asks for 1 TiB */
static void test_oom_message(void)
{
    int fd[2];
    LB_CHECK(pipe(fd) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        execl("/proc/self/exe", "test_gpu_tensor", "--oom-child", (char *)NULL);
        _exit(99);
    }
    close(fd[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t k;
    while (len < sizeof buf - 1 && (k = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)k;
    buf[len] = 0;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    LB_EXPECTF(WIFEXITED(status) && WEXITSTATUS(status) == 1, "OOM child: status %d", status);
    LB_EXPECTF(strstr(buf, "lowbit: error: out of GPU memory: asked for 1048576.0 MiB") != NULL &&
                   strstr(buf, "--micro-batch") != NULL,
               "OOM message: %s", buf);
}

static int oom_child(void)
{
    lb_ctx ctx;
    gpc_ctx(&ctx);
    lb_cuda_step_alloc(&ctx, (size_t)1 << 40);
    return 0;   /* not reached: the allocation exits(1) */
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--oom-child") == 0) return oom_child();
    GPC_SKIP_WITHOUT_GPU();
    opc_ctx(&g_cpu);
    gpc_ctx(&g_gpu);
    LB_EXPECT(g_gpu.device == LB_CUDA && g_gpu.cuda != NULL);
    LB_RUN(test_casts_bit_exact);
    LB_RUN(test_int_transfer);
    LB_RUN(test_step_pool);
    LB_RUN(test_zeros_dev);
    LB_RUN(test_params);
    LB_RUN(test_backward);
    LB_RUN(test_mixed_devices_refused);
    LB_RUN(test_oom_message);
    lb_ctx_free(&g_gpu);
    lb_ctx_free(&g_cpu);
    return lb_test_summary();
}
