/* test_gpu_attention.c — CUDA attention (the plain kernels and cuDNN's fused
 * attention) against the CPU fp32 kernels, forward and backward.
 *
 * Fresh random q, k, v, dout per case, rounded to bf16 once on the host, so
 * that the CPU and the GPU compute the same function of the same numbers;
 * what differs is only the GPU's bf16 outputs and its fp32 summation order.
 * Outputs are poisoned (bf16 NaN) before each run, so an unwritten element
 * fails; grads start at a nonzero preseed, so overwriting instead of
 * accumulating fails. Shapes cover T 1, 7, 37, 128, 513, heads 6/2, 8/8,
 * 32/4, head dims 64 and 128 (and 40, 80, 256 on the plain path), and the
 * KV-cache cases q_pos0 > 0 with S > T (plain path only: cuDNN's causal
 * mask is top-left aligned, see attention_cudnn.cu). The cuDNN path runs
 * cuDNN's fused forward and backward; "cudnn-det" runs the backward with
 * LB_DETERMINISTIC=1 (a deterministic cuDNN engine, or the plain kernel
 * where none takes the shape) and requires two runs to give the same bits.
 *
 * With LOWBIT_BENCH=1 it also times the three paths at B 4, T 2048 with
 * nh 32, nkv 4, hd 64 (TinyLlama) and nh 16, nkv 16, hd 128: cuda events
 * on the context's stream around each call, median of 10 after 3 warm-ups.
 *
 * Skips (77) where no CUDA GPU is usable.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ctx.h"
#include "autograd/ops.h"
#include "harness.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

/* Tolerances, as max |gpu - cpu| / max(max |cpu|, GA_FLOOR) over a tensor.
 * bf16 keeps 8 significant bits: rounding a value costs at most 2^-9 of it.
 *  - plain forward: fp32 math on the same bf16 inputs, then out rounded to
 *    bf16 once: 2^-9; the fp32 sums differ from the CPU's by ~S * 2^-24,
 *    negligible. GA_TOL_FWD = 2^-8 (twice the bound).
 *  - plain backward: grads rounded to bf16 once after adding to the preseed
 *    (2^-9), and D = rowsum(dO * O) is taken from the bf16-rounded O (each O
 *    element off by 2^-9, so D by 2^-9 of sum |dO||O|, which enters dS next
 *    to dP of the same scale): 2 * 2^-9; GA_TOL_BWD = 2^-7 (twice that).
 *  - cuDNN rounds P (forward) and P, dS (backward) to bf16 before its
 *    tensor-core GEMMs, one more 2^-9 per operand, and its dK, dV, dQ come
 *    back as bf16 before being added to the grads (a second rounding):
 *    GA_TOL_FWD_CUDNN = 2^-7, GA_TOL_BWD_CUDNN = 2^-6. */
#define GA_TOL_FWD (1.0 / 256)
#define GA_TOL_BWD (1.0 / 128)
#define GA_TOL_FWD_CUDNN (1.0 / 128)
#define GA_TOL_BWD_CUDNN (1.0 / 64)
#define GA_FLOOR 1e-3

/* grads start here on both sides (exact in bf16) */
#define GA_PRESEED 0.015625f

typedef struct ga_case {
    int64_t B, T, S, nh, nkv, hd, q_pos0;
} ga_case;

typedef enum ga_path { GA_PLAIN, GA_CUDNN, GA_CUDNN_DET } ga_path;

static const char *path_name(ga_path p)
{
    return p == GA_PLAIN ? "plain" : p == GA_CUDNN ? "cudnn" : "cudnn-det";
}

static bool have_gpu(void)
{
    if (!lb_cuda_available()) {
        lb_test_skip("no CUDA GPU");
        return false;
    }
    return true;
}

static void init_ctx(lb_ctx *ctx)
{
    lb_status st = lb_ctx_init(ctx, LB_CUDA);
    if (lb_failed(&st)) {
        fprintf(stderr, "ctx init: %s\n", st.msg);
        abort();
    }
}

/* rand_bf16: n random values in [lo, hi) rounded to bf16, as floats and as
 * the bf16 bits to upload */
static void rand_bf16(float *f, uint16_t *h, int64_t n, uint64_t seed, float lo, float hi)
{
    lb_test_rand(f, n, seed, lo, hi);
    for (int64_t i = 0; i < n; i++) {
        h[i] = lb_f32_to_bf16(f[i]);
        f[i] = lb_bf16_to_f32(h[i]);
    }
}

static void *dev_upload(lb_ctx *ctx, const uint16_t *h, int64_t n)
{
    void *d = lb_cuda_malloc((size_t)n * 2);
    lb_cuda_memcpy_h2d(ctx, d, h, (size_t)n * 2);
    return d;
}

/* dev_poison: fills n bf16 at d with NaN (0xFFFF) */
static void dev_poison(lb_ctx *ctx, void *d, int64_t n, size_t elem)
{
    size_t bytes = (size_t)n * elem;
    void *h = malloc(bytes ? bytes : 1);
    memset(h, 0xff, bytes);
    lb_cuda_memcpy_h2d(ctx, d, h, bytes);
    free(h);
}

static void dev_fill_bf16(lb_ctx *ctx, void *d, int64_t n, float x)
{
    uint16_t *h = malloc((size_t)(n ? n : 1) * 2);
    for (int64_t i = 0; i < n; i++) h[i] = lb_f32_to_bf16(x);
    lb_cuda_memcpy_h2d(ctx, d, h, (size_t)n * 2);
    free(h);
}

static float *dev_download_bf16(lb_ctx *ctx, const void *d, int64_t n)
{
    uint16_t *h = malloc((size_t)(n ? n : 1) * 2);
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    lb_cuda_memcpy_d2h(ctx, h, d, (size_t)n * 2);
    for (int64_t i = 0; i < n; i++) f[i] = lb_bf16_to_f32(h[i]);
    free(h);
    return f;
}

static double max_rel(const float *gpu, const float *cpu, int64_t n)
{
    double *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
    for (int64_t i = 0; i < n; i++) ref[i] = cpu[i];
    double r = lb_test_max_rel(gpu, ref, n, GA_FLOOR);
    free(ref);
    return r;
}

static void run_fwd(lb_ctx *ctx, ga_path path, const ga_case *c, void *q, void *k, void *v,
                    void *out, float *lse)
{
    if (path == GA_PLAIN)
        lb_cuda_attention_fwd(ctx, q, k, v, out, lse, c->B, c->T, c->S, c->nh, c->nkv, c->hd,
                              c->q_pos0);
    else
        lb_cuda_attention_cudnn_fwd(ctx, q, k, v, out, lse, c->B, c->T, c->nh, c->nkv, c->hd);
}

static void run_bwd(lb_ctx *ctx, ga_path path, const ga_case *c, void *q, void *k, void *v,
                    void *out, float *lse, void *dout, void *dq, void *dk, void *dv)
{
    if (path == GA_PLAIN) {
        lb_cuda_attention_bwd(ctx, q, k, v, out, lse, dout, dq, dk, dv, c->B, c->T, c->S, c->nh,
                              c->nkv, c->hd, c->q_pos0);
        return;
    }
    if (path == GA_CUDNN_DET) setenv("LB_DETERMINISTIC", "1", 1);
    lb_cuda_attention_cudnn_bwd(ctx, q, k, v, out, lse, dout, dq, dk, dv, false, c->B, c->T, c->nh,
                                c->nkv, c->hd);
    unsetenv("LB_DETERMINISTIC");
}

/* cudnn_bwd_runs: whether run_bwd on `path` takes cuDNN's backward */
static bool cudnn_bwd_runs(lb_ctx *ctx, ga_path path, const ga_case *c)
{
    if (path == GA_PLAIN) return false;
    if (path == GA_CUDNN_DET) setenv("LB_DETERMINISTIC", "1", 1);
    bool r = lb_cuda_attention_cudnn_bwd_supported(ctx, c->B, c->T, c->nh, c->nkv, c->hd);
    unsetenv("LB_DETERMINISTIC");
    return r;
}

static uint64_t dev_hash(lb_ctx *ctx, const void *d, int64_t n)
{
    unsigned char *h = malloc((size_t)(n ? n : 1) * 2);
    lb_cuda_memcpy_d2h(ctx, h, d, (size_t)n * 2);
    uint64_t x = 0xcbf29ce484222325ULL;
    for (int64_t i = 0; i < n * 2; i++) x = (x ^ h[i]) * 0x100000001b3ULL;
    free(h);
    return x;
}

/* check_case: one shape on one path, forward and backward vs the CPU */
static void check_case(ga_case c, ga_path path)
{
    lb_ctx ctx;
    init_ctx(&ctx);
    if (path != GA_PLAIN &&
        !lb_cuda_attention_cudnn_supported(&ctx, c.B, c.T, c.S, c.nh, c.nkv, c.hd, c.q_pos0)) {
        lb_ctx_free(&ctx);
        printf("  skip %s: B%lld T%lld S%lld %lld/%lld hd%lld q_pos0 %lld not supported\n",
               path_name(path), (long long)c.B, (long long)c.T, (long long)c.S, (long long)c.nh,
               (long long)c.nkv, (long long)c.hd, (long long)c.q_pos0);
        return;
    }
    int64_t nq = c.B * c.T * c.nh * c.hd, nk = c.B * c.S * c.nkv * c.hd, nrow = c.B * c.nh * c.T;
    static uint64_t seed = 1000;
    seed += 4;
    float *q = malloc((size_t)nq * 4), *k = malloc((size_t)nk * 4), *v = malloc((size_t)nk * 4);
    float *g = malloc((size_t)nq * 4);
    uint16_t *qh = malloc((size_t)nq * 2), *kh = malloc((size_t)nk * 2);
    uint16_t *vh = malloc((size_t)nk * 2), *gh = malloc((size_t)nq * 2);
    rand_bf16(q, qh, nq, seed, -1.5f, 1.5f);
    rand_bf16(k, kh, nk, seed + 1, -1.5f, 1.5f);
    rand_bf16(v, vh, nk, seed + 2, -1.0f, 1.0f);
    rand_bf16(g, gh, nq, seed + 3, -1.0f, 1.0f);

    /* CPU reference: fp32 on the same (bf16-valued) inputs */
    float *out = malloc((size_t)nq * 4);
    float *probs = malloc((size_t)(c.B * c.nh * c.T * c.S) * 4);
    float *scratch = malloc((size_t)lb_cpu_attention_scratch_floats(c.S) * 4);
    float *dq = malloc((size_t)nq * 4), *dk = malloc((size_t)nk * 4), *dv = malloc((size_t)nk * 4);
    for (int64_t i = 0; i < nq; i++) dq[i] = GA_PRESEED;
    for (int64_t i = 0; i < nk; i++) dk[i] = dv[i] = GA_PRESEED;
    lb_cpu_attention_fwd(q, k, v, out, probs, scratch, c.B, c.T, c.S, c.nh, c.nkv, c.hd, c.q_pos0);
    lb_cpu_attention_bwd(q, k, v, probs, g, scratch, dq, dk, dv, c.B, c.T, c.S, c.nh, c.nkv, c.hd,
                         c.q_pos0);

    void *qd = dev_upload(&ctx, qh, nq), *kd = dev_upload(&ctx, kh, nk);
    void *vd = dev_upload(&ctx, vh, nk), *gd = dev_upload(&ctx, gh, nq);
    void *od = lb_cuda_malloc((size_t)nq * 2);
    float *lse = lb_cuda_malloc((size_t)nrow * 4);
    void *dqd = lb_cuda_malloc((size_t)nq * 2), *dkd = lb_cuda_malloc((size_t)nk * 2);
    void *dvd = lb_cuda_malloc((size_t)nk * 2);
    dev_poison(&ctx, od, nq, 2);
    dev_poison(&ctx, lse, nrow, 4);
    dev_fill_bf16(&ctx, dqd, nq, GA_PRESEED);
    dev_fill_bf16(&ctx, dkd, nk, GA_PRESEED);
    dev_fill_bf16(&ctx, dvd, nk, GA_PRESEED);

    run_fwd(&ctx, path, &c, qd, kd, vd, od, lse);
    float *o_gpu = dev_download_bf16(&ctx, od, nq);
    bool bwd_cudnn = cudnn_bwd_runs(&ctx, path, &c);
    double tol_f = path == GA_PLAIN ? GA_TOL_FWD : GA_TOL_FWD_CUDNN;
    double tol_b = bwd_cudnn ? GA_TOL_BWD_CUDNN : GA_TOL_BWD;
    double e_o = max_rel(o_gpu, out, nq);

    run_bwd(&ctx, path, &c, qd, kd, vd, od, lse, gd, dqd, dkd, dvd);
    bool same_bits = true;
    if (path == GA_CUDNN_DET) {   /* again from the same preseed: the same bits */
        uint64_t h1[3] = {dev_hash(&ctx, dqd, nq), dev_hash(&ctx, dkd, nk), dev_hash(&ctx, dvd, nk)};
        dev_fill_bf16(&ctx, dqd, nq, GA_PRESEED);
        dev_fill_bf16(&ctx, dkd, nk, GA_PRESEED);
        dev_fill_bf16(&ctx, dvd, nk, GA_PRESEED);
        run_bwd(&ctx, path, &c, qd, kd, vd, od, lse, gd, dqd, dkd, dvd);
        same_bits = h1[0] == dev_hash(&ctx, dqd, nq) && h1[1] == dev_hash(&ctx, dkd, nk) &&
                    h1[2] == dev_hash(&ctx, dvd, nk);
    }
    float *dq_gpu = dev_download_bf16(&ctx, dqd, nq);
    float *dk_gpu = dev_download_bf16(&ctx, dkd, nk);
    float *dv_gpu = dev_download_bf16(&ctx, dvd, nk);
    double e_q = max_rel(dq_gpu, dq, nq), e_k = max_rel(dk_gpu, dk, nk);
    double e_v = max_rel(dv_gpu, dv, nk);
    printf("  %-9s B%lld T%-4lld S%-4lld %2lld/%-2lld hd%-3lld q_pos0 %-3lld bwd %-5s out %.2e  "
           "dq %.2e  dk %.2e  dv %.2e\n", path_name(path), (long long)c.B, (long long)c.T,
           (long long)c.S, (long long)c.nh, (long long)c.nkv, (long long)c.hd,
           (long long)c.q_pos0, bwd_cudnn ? "cudnn" : "plain", e_o, e_q, e_k, e_v);
    LB_EXPECTF(same_bits, "%s: two backward runs differ", path_name(path));
    LB_EXPECTF(e_o <= tol_f, "%s out: rel err %.3e > %.3e", path_name(path), e_o, tol_f);
    LB_EXPECTF(e_q <= tol_b, "%s dq: rel err %.3e > %.3e", path_name(path), e_q, tol_b);
    LB_EXPECTF(e_k <= tol_b, "%s dk: rel err %.3e > %.3e", path_name(path), e_k, tol_b);
    LB_EXPECTF(e_v <= tol_b, "%s dv: rel err %.3e > %.3e", path_name(path), e_v, tol_b);

    free(o_gpu);
    free(dq_gpu);
    free(dk_gpu);
    free(dv_gpu);
    lb_cuda_free_ptr(qd);
    lb_cuda_free_ptr(kd);
    lb_cuda_free_ptr(vd);
    lb_cuda_free_ptr(gd);
    lb_cuda_free_ptr(od);
    lb_cuda_free_ptr(lse);
    lb_cuda_free_ptr(dqd);
    lb_cuda_free_ptr(dkd);
    lb_cuda_free_ptr(dvd);
    free(q), free(k), free(v), free(g), free(qh), free(kh), free(vh), free(gh);
    free(out), free(probs), free(scratch), free(dq), free(dk), free(dv);
    lb_ctx_free(&ctx);
}

static const ga_case prefill_cases[] = {
    {.B = 1, .T = 1, .S = 1, .nh = 6, .nkv = 2, .hd = 64},
    {.B = 2, .T = 7, .S = 7, .nh = 8, .nkv = 8, .hd = 128},
    {.B = 2, .T = 37, .S = 37, .nh = 6, .nkv = 2, .hd = 64},
    {.B = 1, .T = 37, .S = 37, .nh = 32, .nkv = 4, .hd = 128},
    {.B = 1, .T = 128, .S = 128, .nh = 32, .nkv = 4, .hd = 64},
    {.B = 2, .T = 128, .S = 128, .nh = 8, .nkv = 8, .hd = 128},
    {.B = 2, .T = 513, .S = 513, .nh = 6, .nkv = 2, .hd = 128},
    {.B = 1, .T = 513, .S = 513, .nh = 32, .nkv = 4, .hd = 64},
};

static void test_plain_prefill(void)
{
    if (!have_gpu()) return;
    for (size_t i = 0; i < sizeof prefill_cases / sizeof prefill_cases[0]; i++)
        check_case(prefill_cases[i], GA_PLAIN);
}

static void test_cudnn_prefill(void)
{
    if (!have_gpu()) return;
    for (size_t i = 0; i < sizeof prefill_cases / sizeof prefill_cases[0]; i++)
        check_case(prefill_cases[i], GA_CUDNN);
}

static void test_cudnn_deterministic(void)
{
    if (!have_gpu()) return;
    for (size_t i = 0; i < sizeof prefill_cases / sizeof prefill_cases[0]; i++)
        check_case(prefill_cases[i], GA_CUDNN_DET);
}

/* KV cache: continuation of a prefill (q_pos0 > 0, S > q_pos0 + T: the
 * last keys are seen by no query and keep their preseed grads), and decode
 * (T = 1) */
static void test_plain_kv_cache(void)
{
    if (!have_gpu()) return;
    check_case((ga_case){.B = 2, .T = 37, .S = 100, .nh = 6, .nkv = 2, .hd = 64, .q_pos0 = 50},
               GA_PLAIN);
    check_case((ga_case){.B = 1, .T = 7, .S = 140, .nh = 32, .nkv = 4, .hd = 128, .q_pos0 = 129},
               GA_PLAIN);
    check_case((ga_case){.B = 2, .T = 1, .S = 77, .nh = 8, .nkv = 8, .hd = 128, .q_pos0 = 76},
               GA_PLAIN);
    check_case((ga_case){.B = 2, .T = 1, .S = 513, .nh = 32, .nkv = 4, .hd = 64, .q_pos0 = 512},
               GA_PLAIN);
}

/* head dims that are not 64 or 128: padded inside the plain kernel */
static void test_plain_head_dims(void)
{
    if (!have_gpu()) return;
    check_case((ga_case){.B = 1, .T = 37, .S = 37, .nh = 6, .nkv = 2, .hd = 40}, GA_PLAIN);
    check_case((ga_case){.B = 2, .T = 70, .S = 70, .nh = 6, .nkv = 3, .hd = 80}, GA_PLAIN);
    check_case((ga_case){.B = 1, .T = 100, .S = 100, .nh = 4, .nkv = 2, .hd = 256}, GA_PLAIN);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* time_ms: median of 10 runs of fwd (bwd false) or bwd after 3 warm-ups,
 * each between two events on the context's stream */
static float time_ms(lb_ctx *ctx, ga_path path, const ga_case *c, void *q, void *k, void *v,
                     void *out, float *lse, void *dout, void *dq, void *dk, void *dv, bool bwd)
{
    float t[10];
    for (int it = -3; it < 10; it++) {
        void *e0 = lb_cuda_event_record(ctx);
        if (bwd)
            run_bwd(ctx, path, c, q, k, v, out, lse, dout, dq, dk, dv);
        else
            run_fwd(ctx, path, c, q, k, v, out, lse);
        void *e1 = lb_cuda_event_record(ctx);
        float ms = lb_cuda_event_ms(e0, e1);
        if (it >= 0) t[it] = ms;
        lb_cuda_event_free(e0);
        lb_cuda_event_free(e1);
        lb_cuda_step_end(ctx);
    }
    qsort(t, 10, sizeof t[0], cmp_float);
    return 0.5f * (t[4] + t[5]);
}

static void bench_shape(ga_case c)
{
    lb_ctx ctx;
    init_ctx(&ctx);
    int64_t nq = c.B * c.T * c.nh * c.hd, nk = c.B * c.S * c.nkv * c.hd;
    float *f = malloc((size_t)nq * 4);
    uint16_t *h = malloc((size_t)nq * 2);
    rand_bf16(f, h, nq, 77, -1.5f, 1.5f);
    void *q = dev_upload(&ctx, h, nq), *g = dev_upload(&ctx, h, nq);
    void *k = dev_upload(&ctx, h, nk), *v = dev_upload(&ctx, h + nq - nk, nk);
    void *out = lb_cuda_malloc((size_t)nq * 2), *dq = lb_cuda_malloc((size_t)nq * 2);
    void *dk = lb_cuda_malloc((size_t)nk * 2), *dv = lb_cuda_malloc((size_t)nk * 2);
    float *lse = lb_cuda_malloc((size_t)(c.B * c.nh * c.T) * 4);
    /* causal: half the T x S scores; fwd 2 GEMMs, bwd 5 */
    double flop = 2.0 * c.B * c.nh * c.T * (double)c.S * c.hd;   // one full GEMM
    for (int p = 0; p < 3; p++) {
        ga_path path = (ga_path)p;
        if (path != GA_PLAIN &&
            !lb_cuda_attention_cudnn_supported(&ctx, c.B, c.T, c.S, c.nh, c.nkv, c.hd, c.q_pos0))
            continue;
        /* the forward that the backward reads: this path's */
        run_fwd(&ctx, path, &c, q, k, v, out, lse);
        float f_ms = time_ms(&ctx, path, &c, q, k, v, out, lse, g, dq, dk, dv, false);
        float b_ms = time_ms(&ctx, path, &c, q, k, v, out, lse, g, dq, dk, dv, true);
        printf("  bench %-9s B%lld T%lld nh%lld/%lld hd%lld: fwd %.3f ms (%.0f TFLOP/s)  "
               "bwd %.3f ms (%.0f TFLOP/s, %s)\n", path_name(path), (long long)c.B,
               (long long)c.T, (long long)c.nh, (long long)c.nkv, (long long)c.hd, f_ms,
               flop / f_ms * 1e-9, b_ms, 2.5 * flop / b_ms * 1e-9,
               cudnn_bwd_runs(&ctx, path, &c) ? "cudnn" : "plain");
    }
    lb_cuda_free_ptr(q);
    lb_cuda_free_ptr(g);
    lb_cuda_free_ptr(k);
    lb_cuda_free_ptr(v);
    lb_cuda_free_ptr(out);
    lb_cuda_free_ptr(dq);
    lb_cuda_free_ptr(dk);
    lb_cuda_free_ptr(dv);
    lb_cuda_free_ptr(lse);
    free(f);
    free(h);
    lb_ctx_free(&ctx);
}

static void bench(void)
{
    if (!have_gpu()) return;
    const char *b = getenv("LOWBIT_BENCH");
    if (!b || strcmp(b, "1") != 0) {
        lb_test_skip("set LOWBIT_BENCH=1 to time");
        return;
    }
    bench_shape((ga_case){.B = 4, .T = 2048, .S = 2048, .nh = 32, .nkv = 4, .hd = 64});
    bench_shape((ga_case){.B = 4, .T = 2048, .S = 2048, .nh = 16, .nkv = 16, .hd = 128});
}

int main(void)
{
    LB_RUN(test_plain_prefill);
    LB_RUN(test_plain_kv_cache);
    LB_RUN(test_plain_head_dims);
    LB_RUN(test_cudnn_prefill);
    LB_RUN(test_cudnn_deterministic);
    LB_RUN(bench);
    return lb_test_summary();
}
