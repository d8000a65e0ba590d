/* test_gpu_attention_op.c — the lb_attention op on CUDA (bf16 step
 * tensors, the tape, lb_backward) against the same op on the CPU in fp32.
 *
 * Each case builds q, k, v from fresh random values rounded to bf16 once,
 * as CPU f32 tensors and CUDA bf16 step tensors holding the same numbers,
 * with requires_grad; every grad is preseeded (GA_PRESEED, exact in bf16)
 * on both sides so that an overwrite instead of an accumulate fails (the
 * "fresh" cases leave them unset, so the CUDA backward writes new grads,
 * cuDNN's straight into them, and the CPU starts from zero); the
 * step pool is filled with NaN first so that an output element nothing
 * wrote fails. The loss is sum(attention(q, k, v) * W) for a random bf16 W
 * (so dout = W), and lb_backward runs the tape on each side. Compared: the
 * output, the loss and the q, k, v grads.
 *
 * Paths: cuDNN (the default where it takes the shape), the plain kernels
 * (LOWBIT_ATTN_PLAIN=1), and the cuDNN backward in deterministic mode
 * (LB_DETERMINISTIC=1, also run twice and required bit-identical). The
 * KV-cache shapes (q_pos0 > 0, S > T) must fall back to the plain kernels
 * on the cuDNN path and still match.
 *
 * Skips (77) where no CUDA GPU is usable.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ctx.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "harness.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

/* Tolerances, as max |gpu - cpu| / max(max |cpu|, GA_FLOOR) per tensor,
 * the same budgets as test_gpu_attention.c (the op adds no arithmetic of
 * its own: the loss's mul by W is exact for dout, and the grads of q, k, v
 * are the kernels' accumulates):
 *  - plain: out rounded to bf16 once (2^-9), 2^-8 with margin; grads with D
 *    from the bf16 O and one rounding on accumulate, 2^-7.
 *  - cuDNN: P and dS rounded to bf16 before its tensor-core GEMMs, and its
 *    bf16 dQ, dK, dV rounded again when added to the grads: 2^-7, 2^-6.
 * The loss is a sum of T*nh*hd*B products out * W, each off by the out
 * error: |dloss| <= tol_fwd * max|out| * sum|W|, checked against that. */
#define GA_TOL_FWD (1.0 / 256)
#define GA_TOL_BWD (1.0 / 128)
#define GA_TOL_FWD_CUDNN (1.0 / 128)
#define GA_TOL_BWD_CUDNN (1.0 / 64)
#define GA_FLOOR 1e-3
#define GA_PRESEED 0.015625f

typedef struct op_case {
    int64_t B, T, S, nh, nkv, hd, q_pos0;
} op_case;

typedef enum op_path { OP_CUDNN, OP_PLAIN, OP_CUDNN_DET } op_path;

static const char *path_name(op_path p)
{
    return p == OP_PLAIN ? "plain" : p == OP_CUDNN ? "cudnn" : "cudnn-det";
}

static void set_path(op_path p)
{
    if (p == OP_PLAIN)
        setenv("LOWBIT_ATTN_PLAIN", "1", 1);
    else
        unsetenv("LOWBIT_ATTN_PLAIN");
    if (p == OP_CUDNN_DET)
        setenv("LB_DETERMINISTIC", "1", 1);
    else
        unsetenv("LB_DETERMINISTIC");
}

static void init_ctx(lb_ctx *ctx, lb_device dev)
{
    lb_status st = lb_ctx_init(ctx, dev);
    if (lb_failed(&st)) {
        fprintf(stderr, "ctx init: %s\n", st.msg);
        abort();
    }
}

/* rand_bf16: n random values in [lo, hi) rounded to bf16 */
static float *rand_bf16(int64_t n, uint64_t seed, float lo, float hi)
{
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    lb_test_rand(f, n, seed, lo, hi);
    for (int64_t i = 0; i < n; i++) f[i] = lb_bf16_to_f32(lb_f32_to_bf16(f[i]));
    return f;
}

/* dev_tensor: a CUDA bf16 step tensor holding vals (rounded already) */
static lb_tensor *dev_tensor(lb_ctx *gpu, const int64_t shape[4], const float *vals, bool grad)
{
    lb_tensor *t = lb_tensor_new_dev(gpu, LB_CUDA, LB_BF16, 4, shape);
    lb_tensor_copy_from_host(gpu, t, vals);
    t->requires_grad = grad;
    return t;
}

static void preseed(lb_ctx *ctx, lb_tensor *t)
{
    lb_tensor *g = lb_grad_of(ctx, t);
    int64_t n = lb_tensor_numel(g);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = GA_PRESEED;
    lb_tensor_copy_from_host(ctx, g, v);
    free(v);
}

/* poison_pool: NaN in `bytes` of pool memory, handed back for the step
 * allocations that follow to reuse */
static void poison_pool(lb_ctx *gpu, size_t bytes)
{
    void *p = lb_cuda_tmp_alloc(gpu, bytes);
    void *h = malloc(bytes);
    memset(h, 0xff, bytes);
    lb_cuda_memcpy_h2d(gpu, p, h, bytes);
    lb_cuda_tmp_free(gpu, p);
    free(h);
}

/* rel_err: max |gpu - cpu| / max(max |cpu|, GA_FLOOR); NaN gives inf */
static double rel_err(lb_ctx *gpu, const lb_tensor *dev, const lb_tensor *ref)
{
    int64_t n = lb_tensor_numel(ref);
    float *got = malloc((size_t)n * sizeof *got);
    lb_tensor_copy_to_host(gpu, dev, got);
    const float *r = ref->data;
    double maxdiff = 0.0, maxref = GA_FLOOR;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            maxdiff = INFINITY;
            break;
        }
        maxdiff = fmax(maxdiff, fabs((double)got[i] - r[i]));
        maxref = fmax(maxref, fabs((double)r[i]));
    }
    free(got);
    return maxdiff / maxref;
}

/* run_gpu: loss = sum(attention(q, k, v) * W) on the GPU with preseeded
 * grads (none when fresh), backward; returns the output tensor and the loss */
static lb_tensor *run_gpu(lb_ctx *gpu, const op_case *c, const float *qv, const float *kv,
                          const float *vv, const float *wv, lb_tensor **q, lb_tensor **k,
                          lb_tensor **v, float *loss, bool fresh)
{
    const int64_t qs[4] = {c->B, c->T, c->nh, c->hd}, ks[4] = {c->B, c->S, c->nkv, c->hd};
    *q = dev_tensor(gpu, qs, qv, true);
    *k = dev_tensor(gpu, ks, kv, true);
    *v = dev_tensor(gpu, ks, vv, true);
    lb_tensor *w = dev_tensor(gpu, qs, wv, false);
    if (!fresh) {
        preseed(gpu, *q);
        preseed(gpu, *k);
        preseed(gpu, *v);
    }
    poison_pool(gpu, (size_t)lb_tensor_numel(*q) * 8 + ((size_t)1 << 20));
    lb_tensor *out = lb_attention(gpu, *q, *k, *v, c->q_pos0);
    lb_tensor *l = lb_sum(gpu, lb_mul(gpu, out, w));
    lb_tensor_copy_to_host(gpu, l, loss);
    lb_backward(gpu, l);
    return out;
}

/* grad_bits: the bf16 bits of t's grad, hashed (FNV-1a) */
static uint64_t grad_hash(lb_ctx *gpu, lb_tensor *t)
{
    lb_tensor *g = t->grad;
    size_t n = (size_t)lb_tensor_numel(g) * 2;
    unsigned char *h = malloc(n);
    lb_cuda_memcpy_d2h(gpu, h, g->data, n);
    uint64_t x = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) x = (x ^ h[i]) * 0x100000001b3ULL;
    free(h);
    return x;
}

static void check_case(op_case c, op_path path, bool fresh)
{
    static uint64_t seed = 5000;
    seed += 4;
    set_path(path);
    const int64_t qs[4] = {c.B, c.T, c.nh, c.hd}, ks[4] = {c.B, c.S, c.nkv, c.hd};
    const int64_t nq = c.B * c.T * c.nh * c.hd, nk = c.B * c.S * c.nkv * c.hd;
    float *qv = rand_bf16(nq, seed, -1.5f, 1.5f), *kv = rand_bf16(nk, seed + 1, -1.5f, 1.5f);
    float *vv = rand_bf16(nk, seed + 2, -1.0f, 1.0f), *wv = rand_bf16(nq, seed + 3, -1.0f, 1.0f);

    /* CPU: the spec */
    lb_ctx cpu;
    init_ctx(&cpu, LB_CPU);
    lb_tensor *qc = lb_tensor_new(&cpu, LB_F32, 4, qs), *kc = lb_tensor_new(&cpu, LB_F32, 4, ks);
    lb_tensor *vc = lb_tensor_new(&cpu, LB_F32, 4, ks), *wc = lb_tensor_new(&cpu, LB_F32, 4, qs);
    memcpy(qc->data, qv, (size_t)nq * 4);
    memcpy(kc->data, kv, (size_t)nk * 4);
    memcpy(vc->data, vv, (size_t)nk * 4);
    memcpy(wc->data, wv, (size_t)nq * 4);
    qc->requires_grad = kc->requires_grad = vc->requires_grad = true;
    if (!fresh) {
        preseed(&cpu, qc);
        preseed(&cpu, kc);
        preseed(&cpu, vc);
    }
    lb_tensor *oc = lb_attention(&cpu, qc, kc, vc, c.q_pos0);
    lb_tensor *lc = lb_sum(&cpu, lb_mul(&cpu, oc, wc));
    float loss_cpu = ((float *)lc->data)[0];
    lb_backward(&cpu, lc);
    double bound = 0.0, maxo = 0.0;
    for (int64_t i = 0; i < nq; i++) {
        bound += fabs((double)wv[i]);
        maxo = fmax(maxo, fabs((double)((float *)oc->data)[i]));
    }

    /* GPU */
    lb_ctx gpu;
    init_ctx(&gpu, LB_CUDA);
    bool cudnn = lb_cuda_attention_cudnn_supported(&gpu, c.B, c.T, c.S, c.nh, c.nkv, c.hd,
                                                   c.q_pos0);
    bool cudnn_bwd = cudnn && lb_cuda_attention_cudnn_bwd_supported(&gpu, c.B, c.T, c.nh, c.nkv,
                                                                     c.hd);
    if (path == OP_PLAIN || c.q_pos0 > 0 || c.S != c.T)
        LB_EXPECTF(!cudnn, "%s: cuDNN claims B%lld T%lld S%lld q_pos0 %lld", path_name(path),
                   (long long)c.B, (long long)c.T, (long long)c.S, (long long)c.q_pos0);
    lb_tensor *q, *k, *v;
    float loss_gpu = 0.0f;
    lb_tensor *og = run_gpu(&gpu, &c, qv, kv, vv, wv, &q, &k, &v, &loss_gpu, fresh);
    double tol_f = cudnn ? GA_TOL_FWD_CUDNN : GA_TOL_FWD;
    double tol_b = cudnn_bwd ? GA_TOL_BWD_CUDNN : GA_TOL_BWD;
    double e_o = rel_err(&gpu, og, oc), e_q = rel_err(&gpu, q->grad, qc->grad);
    double e_k = rel_err(&gpu, k->grad, kc->grad), e_v = rel_err(&gpu, v->grad, vc->grad);
    double e_l = fabs((double)loss_gpu - loss_cpu) / fmax(maxo * bound, GA_FLOOR);
    printf("  %-9s%s B%lld T%-3lld S%-3lld %2lld/%-2lld hd%-3lld q_pos0 %-3lld fwd %-5s bwd %-5s  "
           "out %.2e loss %.2e dq %.2e dk %.2e dv %.2e\n", path_name(path), fresh ? " fresh" : "",
           (long long)c.B,
           (long long)c.T, (long long)c.S, (long long)c.nh, (long long)c.nkv, (long long)c.hd,
           (long long)c.q_pos0, cudnn ? "cudnn" : "plain", cudnn_bwd ? "cudnn" : "plain", e_o,
           e_l, e_q, e_k, e_v);
    LB_EXPECTF(e_o <= tol_f, "%s out: rel err %.3e > %.3e", path_name(path), e_o, tol_f);
    LB_EXPECTF(e_l <= tol_f, "%s loss: rel err %.3e > %.3e", path_name(path), e_l, tol_f);
    LB_EXPECTF(e_q <= tol_b, "%s dq: rel err %.3e > %.3e", path_name(path), e_q, tol_b);
    LB_EXPECTF(e_k <= tol_b, "%s dk: rel err %.3e > %.3e", path_name(path), e_k, tol_b);
    LB_EXPECTF(e_v <= tol_b, "%s dv: rel err %.3e > %.3e", path_name(path), e_v, tol_b);

    if (path == OP_CUDNN_DET) {   /* the same step again: the same bits */
        uint64_t h1[3] = {grad_hash(&gpu, q), grad_hash(&gpu, k), grad_hash(&gpu, v)};
        lb_ctx_step_end(&gpu);
        run_gpu(&gpu, &c, qv, kv, vv, wv, &q, &k, &v, &loss_gpu, fresh);
        uint64_t h2[3] = {grad_hash(&gpu, q), grad_hash(&gpu, k), grad_hash(&gpu, v)};
        LB_EXPECTF(h1[0] == h2[0] && h1[1] == h2[1] && h1[2] == h2[2],
                   "LB_DETERMINISTIC=1: grads differ between two identical steps (dq %s, dk %s, "
                   "dv %s)", h1[0] == h2[0] ? "same" : "DIFFER", h1[1] == h2[1] ? "same" : "DIFFER",
                   h1[2] == h2[2] ? "same" : "DIFFER");
    }
    lb_ctx_free(&gpu);
    lb_ctx_free(&cpu);
    free(qv), free(kv), free(vv), free(wv);
    set_path(OP_CUDNN);
}

static const op_case cases[] = {
    {.B = 2, .T = 37, .S = 37, .nh = 6, .nkv = 2, .hd = 64},
    {.B = 1, .T = 128, .S = 128, .nh = 8, .nkv = 8, .hd = 128},
    {.B = 2, .T = 200, .S = 200, .nh = 8, .nkv = 2, .hd = 128},
    {.B = 1, .T = 257, .S = 257, .nh = 32, .nkv = 4, .hd = 64},
    /* KV cache: continuation and decode; cuDNN must decline */
    {.B = 2, .T = 37, .S = 100, .nh = 6, .nkv = 2, .hd = 64, .q_pos0 = 50},
    {.B = 2, .T = 1, .S = 77, .nh = 8, .nkv = 8, .hd = 128, .q_pos0 = 76},
};

static bool have_gpu(void)
{
    if (!lb_cuda_available()) {
        lb_test_skip("no CUDA GPU");
        return false;
    }
    return true;
}

static void test_cudnn_path(void)
{
    if (!have_gpu()) return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(cases[i], OP_CUDNN, false);
}

static void test_plain_path(void)
{
    if (!have_gpu()) return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(cases[i], OP_PLAIN, false);
}

static void test_cudnn_deterministic(void)
{
    if (!have_gpu()) return;
    for (size_t i = 0; i < 4; i++) check_case(cases[i], OP_CUDNN_DET, false);
}

/* new grads: cuDNN writes dq, dk, dv directly (both modes), the plain
 * kernels and the KV-cache fallback start them at zero */
static void test_fresh_grads(void)
{
    if (!have_gpu()) return;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_case(cases[i], OP_CUDNN, true);
        if (i < 4) check_case(cases[i], OP_CUDNN_DET, true);
    }
    check_case(cases[0], OP_PLAIN, true);
}

int main(void)
{
    if (!lb_cuda_available()) {
        printf("no usable CUDA GPU (or a build without CUDA): skipped\n");
        return 77;
    }
    LB_RUN(test_cudnn_path);
    LB_RUN(test_plain_path);
    LB_RUN(test_cudnn_deterministic);
    LB_RUN(test_fresh_grads);
    return lb_test_summary();
}
