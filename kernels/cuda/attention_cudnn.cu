/* attention_cudnn.cu — causal grouped-query attention forward and backward
 * through cuDNN's fused (flash) attention, built with the backend graph API
 * from C (cudnn_graph.h).
 *
 * cuDNN 9 has fused SDPA_FWD / SDPA_BWD operations, but they take no causal
 * mask here, so both graphs are the ones cudnn-frontend builds for SDPA,
 * which the runtime-compiled fused attention engines recognise. Forward:
 *
 *   S  = Q @ K^T                      matmul      (B, nh, T, S) fp32
 *   S  = S * scale                    pointwise   scale by value
 *   S  = row >= col ? S : -inf        gen_index x2, cmp_ge, binary_select
 *   M  = max_s S                      reduction   (B, nh, T, 1)
 *   E  = exp(S - M), Z = sum_s E      pointwise, reduction
 *   lse = M + log Z                   -> Stats output (B, nh, T, 1) fp32
 *   O  = (E / Z) @ V                  matmul      (B, nh, T, hd) bf16
 *
 * Backward (cudnn-frontend's SDPABackwardNode, no dropout or bias):
 *
 *   D  = sum_d dO * O  (* 1)          -> softmax_sum (B, nh, T, 1) fp32, workspace
 *   P  = exp(mask(Q @ K^T * scale) - lse)
 *   dV = P^T @ dO                     reshape (transpose) + matmul
 *   dS = (dO @ V^T - D) * P * scale
 *   dK = dS^T @ Q                     reshape + matmul
 *   dQ = dS @ K                       into an fp32 dQ_accum (workspace; the
 *                                     engine adds tiles with atomics), then
 *                                     identity -> dQ bf16
 * Grouped heads: K and V carry nkv heads, broadcast over the nh / nkv query
 * heads of each group; dK and dV come out per query head (virtual) and a
 * reduction sums each group into the nkv heads, inside the fused engine.
 * The mask is tried after the lse subtraction (frontend >= 1.8 order) and,
 * if no engine takes that, before it with the dP * 1 dropout placeholder
 * (older frontends' order).
 *
 * Deterministic mode (LB_DETERMINISTIC=1 in the environment): dQ is not
 * accumulated with atomics. As in the frontend's is_deterministic_algorithm,
 * the graph then has no dQ_accum (the matmul writes dQ directly: the
 * engine's dP-workspace algorithm, B * nh * T * S * 2 bytes of workspace),
 * and engines noted NONDETERMINISTIC are skipped. If no engine takes it,
 * the plain backward kernel (deterministic) runs instead.
 *
 * Q, K, V, O, dO and the grads keep lowbit's (B, T, heads, hd) layout:
 * cuDNN is handed dims (B, heads, T, hd) with strides (T*heads*hd, hd,
 * heads*hd, 1), and K^T, V^T are K, V with their last two strides swapped.
 * cuDNN OVERWRITES dQ, dK, dV; lowbit's backward accumulates, so they go
 * to scratch and a small kernel adds them to the grads.
 *
 * Only q_pos0 == 0 and S == T (training, prefill) take this path: the mask
 * is aligned top-left. Decode and KV-cache continuation use the plain
 * kernels (attention.cu). Built plans are cached per shape in the CUDA
 * state (lb_cuda_state.attn_cache); a shape the engines refuse is cached as
 * refused, and the caller falls back to the plain kernels.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/cudnn_graph.h"
#include "kernels/cuda/kernels.h"

typedef lb_cudnn_desc desc_t;
typedef lb_cudnn_graph builder;

enum {
    UID_Q = 1, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE, UID_NEG_INF,
    UID_DO, UID_DQ, UID_DK, UID_DV, UID_ONE, UID_SOFTMAX_SUM, UID_DQ_ACCUM,
    UID_VIRT = 100
};

static const cudnnDataType_t BF = CUDNN_DATA_BFLOAT16, F32 = CUDNN_DATA_FLOAT;

/* the (B, heads, T, hd) views and the scores' shapes of one call */
typedef struct attn_dims {
    int64_t q_dim[4], q_str[4];     /* Q, O, dO, dQ */
    int64_t kt_dim[4], kt_str[4];   /* K^T, V^T (B, nkv, hd, S) */
    int64_t k_dim[4], k_str[4];     /* K, V, dK, dV (B, nkv, S, hd) */
    int64_t s_dim[4], s_str[4];     /* scores (B, nh, T, S) */
    int64_t st_dim[4], st_str[4];   /* scores transposed (B, nh, S, T) */
    int64_t r_dim[4], r_str[4];     /* row stats (B, nh, T, 1) */
    int64_t fh_dim[4], fh_str[4];   /* per-query-head dK, dV, dQ_accum (B, nh, S, hd) packed */
} attn_dims;

static attn_dims make_dims(int64_t B, int64_t T, int64_t nh, int64_t nkv, int64_t hd)
{
    const int64_t S = T;
    attn_dims d = {
        {B, nh, T, hd}, {T * nh * hd, hd, nh * hd, 1},
        {B, nkv, hd, S}, {S * nkv * hd, hd, 1, nkv * hd},
        {B, nkv, S, hd}, {S * nkv * hd, hd, nkv * hd, 1},
        {B, nh, T, S}, {nh * T * S, T * S, S, 1},
        {B, nh, S, T}, {nh * T * S, T * S, 1, S},
        {B, nh, T, 1}, {nh * T, T, 1, 1},
        {B, nh, S, hd}, {nh * S * hd, S * hd, hd, 1},
    };
    return d;
}

static const int64_t ONE4[4] = {1, 1, 1, 1};

/* causal: s masked to -inf where col > row */
static desc_t causal(builder *b, desc_t *ops, int *n, desc_t s, const attn_dims *d,
                     desc_t neg_inf)
{
    const cudnnDataType_t i32 = CUDNN_DATA_INT32, boolean = CUDNN_DATA_BOOLEAN;
    desc_t row = lb_cudnn_tensor(b, -1, i32, d->s_dim, d->s_str, false);
    desc_t col = lb_cudnn_tensor(b, -1, i32, d->s_dim, d->s_str, false);
    desc_t mask = lb_cudnn_tensor(b, -1, boolean, d->s_dim, d->s_str, false);
    desc_t out = lb_cudnn_tensor(b, -1, F32, d->s_dim, d->s_str, false);
    ops[(*n)++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_GEN_INDEX, i32, s, NULL, NULL, row, 2);
    ops[(*n)++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_GEN_INDEX, i32, s, NULL, NULL, col, 3);
    ops[(*n)++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_CMP_GE, boolean, row, col, NULL, mask, -1);
    ops[(*n)++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_BINARY_SELECT, F32, s, neg_inf, mask, out,
                                     -1);
    return out;
}

/* build_fwd: the forward graph for one shape, its P in `p_dtype`; returns
 * the plan or NULL (b->what says why). */
static desc_t build_fwd(cudnnHandle_t h, int64_t B, int64_t T, int64_t nh, int64_t nkv,
                        int64_t hd, cudnnDataType_t p_dtype, int64_t *ws, int64_t *engine,
                        builder *b)
{
    attn_dims d = make_dims(B, T, nh, nkv, hd);
    desc_t Q = lb_cudnn_tensor(b, UID_Q, BF, d.q_dim, d.q_str, false);
    desc_t Kt = lb_cudnn_tensor(b, UID_K, BF, d.kt_dim, d.kt_str, false);
    desc_t V = lb_cudnn_tensor(b, UID_V, BF, d.k_dim, d.k_str, false);
    desc_t O = lb_cudnn_tensor(b, UID_O, BF, d.q_dim, d.q_str, false);
    desc_t stats = lb_cudnn_tensor(b, UID_STATS, F32, d.r_dim, d.r_str, false);
    desc_t scale = lb_cudnn_tensor(b, UID_SCALE, F32, ONE4, ONE4, true);
    desc_t neg_inf = lb_cudnn_tensor(b, UID_NEG_INF, F32, ONE4, ONE4, true);
    desc_t s1 = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    desc_t s2 = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    desc_t mx = lb_cudnn_tensor(b, -1, F32, d.r_dim, d.r_str, false);
    desc_t sub = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    desc_t ex = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    desc_t sum = lb_cudnn_tensor(b, -1, F32, d.r_dim, d.r_str, false);
    desc_t lg = lb_cudnn_tensor(b, -1, F32, d.r_dim, d.r_str, false);
    desc_t p = lb_cudnn_tensor(b, -1, p_dtype, d.s_dim, d.s_str, false);

    desc_t ops[16];
    int n = 0;
    ops[n++] = lb_cudnn_matmul(b, Q, Kt, s1);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_MUL, F32, s1, scale, NULL, s2, -1);
    desc_t s3 = causal(b, ops, &n, s2, &d, neg_inf);
    ops[n++] = lb_cudnn_reduction(b, CUDNN_REDUCE_TENSOR_MAX, s3, mx);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_SUB, F32, s3, mx, NULL, sub, -1);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_EXP, F32, sub, NULL, NULL, ex, -1);
    ops[n++] = lb_cudnn_reduction(b, CUDNN_REDUCE_TENSOR_ADD, ex, sum);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_LOG, F32, sum, NULL, NULL, lg, -1);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_ADD, F32, mx, lg, NULL, stats, -1);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_DIV, F32, ex, sum, NULL, p, -1);
    ops[n++] = lb_cudnn_matmul(b, p, V, O);
    if (b->err != CUDNN_STATUS_SUCCESS) return NULL;
    return lb_cudnn_plan(b, h, ops, n, false, ws, engine);
}

/* build_bwd: the backward graph for one shape; mask_first: the older
 * frontends' order (mask before the lse subtraction, dP * 1); det: no
 * dQ_accum and deterministic engines only. Returns the plan or NULL. */
static desc_t build_bwd(cudnnHandle_t h, int64_t B, int64_t T, int64_t nh, int64_t nkv,
                        int64_t hd, bool mask_first, bool det, int64_t *ws, int64_t *engine,
                        builder *b)
{
    attn_dims d = make_dims(B, T, nh, nkv, hd);
    const bool gqa = nh != nkv;
    desc_t Q = lb_cudnn_tensor(b, UID_Q, BF, d.q_dim, d.q_str, false);
    desc_t Kt = lb_cudnn_tensor(b, UID_K, BF, d.kt_dim, d.kt_str, false);
    desc_t Vt = lb_cudnn_tensor(b, UID_V, BF, d.kt_dim, d.kt_str, false);
    desc_t O = lb_cudnn_tensor(b, UID_O, BF, d.q_dim, d.q_str, false);
    desc_t dO = lb_cudnn_tensor(b, UID_DO, BF, d.q_dim, d.q_str, false);
    desc_t stats = lb_cudnn_tensor(b, UID_STATS, F32, d.r_dim, d.r_str, false);
    desc_t dQ = lb_cudnn_tensor(b, UID_DQ, BF, d.q_dim, d.q_str, false);
    desc_t dK = lb_cudnn_tensor(b, UID_DK, BF, d.k_dim, d.k_str, false);
    desc_t dV = lb_cudnn_tensor(b, UID_DV, BF, d.k_dim, d.k_str, false);
    desc_t scale = lb_cudnn_tensor(b, UID_SCALE, F32, ONE4, ONE4, true);
    desc_t neg_inf = lb_cudnn_tensor(b, UID_NEG_INF, F32, ONE4, ONE4, true);
    desc_t one = lb_cudnn_tensor(b, UID_ONE, F32, ONE4, ONE4, true);
    desc_t softmax_sum = lb_cudnn_tensor(b, UID_SOFTMAX_SUM, F32, d.r_dim, d.r_str, false);

    desc_t ops[40];
    int n = 0;
    /* D = rowsum(dO * O) * 1 */
    desc_t doo = lb_cudnn_tensor(b, -1, F32, d.q_dim, d.q_str, false);
    desc_t dsum = lb_cudnn_tensor(b, -1, F32, d.r_dim, d.r_str, false);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_MUL, F32, dO, O, NULL, doo, -1);
    ops[n++] = lb_cudnn_reduction(b, CUDNN_REDUCE_TENSOR_ADD, doo, dsum);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_MUL, F32, dsum, one, NULL, softmax_sum, -1);

    /* P = exp(mask(Q K^T * scale) - lse) */
    desc_t s1 = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    desc_t s2 = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    desc_t s3 = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    desc_t P = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    ops[n++] = lb_cudnn_matmul(b, Q, Kt, s1);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_MUL, F32, s1, scale, NULL, s2, -1);
    desc_t s4;
    if (mask_first) {
        desc_t m = causal(b, ops, &n, s2, &d, neg_inf);
        ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_SUB, F32, m, stats, NULL, s3, -1);
        s4 = s3;
    } else {
        ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_SUB, F32, s2, stats, NULL, s3, -1);
        s4 = causal(b, ops, &n, s3, &d, neg_inf);
    }
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_EXP, F32, s4, NULL, NULL, P, -1);

    /* dV = P^T dO (per query head, summed over each group) */
    desc_t Pt = lb_cudnn_tensor(b, -1, BF, d.st_dim, d.st_str, false);
    ops[n++] = lb_cudnn_reshape(b, P, Pt);
    if (gqa) {
        desc_t dVf = lb_cudnn_tensor(b, -1, BF, d.fh_dim, d.fh_str, false);
        ops[n++] = lb_cudnn_matmul(b, Pt, dO, dVf);
        ops[n++] = lb_cudnn_reduction(b, CUDNN_REDUCE_TENSOR_ADD, dVf, dV);
    } else {
        ops[n++] = lb_cudnn_matmul(b, Pt, dO, dV);
    }

    /* dS = (dO V^T - D) * P * scale */
    desc_t dP = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    ops[n++] = lb_cudnn_matmul(b, dO, Vt, dP);
    if (mask_first) {
        desc_t dP1 = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
        ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_MUL, F32, dP, one, NULL, dP1, -1);
        dP = dP1;
    }
    desc_t t1 = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    desc_t t2 = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    desc_t dS = lb_cudnn_tensor(b, -1, F32, d.s_dim, d.s_str, false);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_SUB, F32, dP, softmax_sum, NULL, t1, -1);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_MUL, F32, t1, P, NULL, t2, -1);
    ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_MUL, F32, t2, scale, NULL, dS, -1);

    /* dK = dS^T Q (per query head, summed over each group) */
    desc_t dSt = lb_cudnn_tensor(b, -1, BF, d.st_dim, d.st_str, false);
    ops[n++] = lb_cudnn_reshape(b, dS, dSt);
    if (gqa) {
        desc_t dKf = lb_cudnn_tensor(b, -1, BF, d.fh_dim, d.fh_str, false);
        ops[n++] = lb_cudnn_matmul(b, dSt, Q, dKf);
        ops[n++] = lb_cudnn_reduction(b, CUDNN_REDUCE_TENSOR_ADD, dKf, dK);
    } else {
        ops[n++] = lb_cudnn_matmul(b, dSt, Q, dK);
    }

    /* dQ = dS K, through the fp32 dQ_accum unless deterministic */
    desc_t K = lb_cudnn_tensor(b, -1, BF, d.k_dim, d.k_str, false);
    ops[n++] = lb_cudnn_reshape(b, Kt, K);
    if (det) {
        ops[n++] = lb_cudnn_matmul(b, dS, K, dQ);
    } else {
        const int64_t acc_dim[4] = {B, nh, T, hd}, acc_str[4] = {nh * T * hd, T * hd, hd, 1};
        desc_t acc = lb_cudnn_tensor(b, UID_DQ_ACCUM, F32, acc_dim, acc_str, false);
        ops[n++] = lb_cudnn_matmul(b, dS, K, acc);
        ops[n++] = lb_cudnn_pointwise(b, CUDNN_POINTWISE_IDENTITY, F32, acc, NULL, NULL, dQ, -1);
    }
    if (b->err != CUDNN_STATUS_SUCCESS) return NULL;
    return lb_cudnn_plan(b, h, ops, n, det, ws, engine);
}

/* ---- plan cache (lb_cuda_state.attn_cache) ---------------------------------------- */

typedef enum attn_kind { ATTN_FWD, ATTN_BWD } attn_kind;

typedef struct attn_plan {
    bool used;
    attn_kind kind;
    bool det;
    int64_t B, T, nh, nkv, hd;
    desc_t plan;      /* NULL: refused */
    builder b;        /* the graph's descriptors, kept alive with the plan */
    int64_t ws;       /* engine workspace bytes */
    uint64_t clock;   /* last use, for eviction */
} attn_plan;

#define ATTN_PLANS 32

typedef struct attn_cache {
    attn_plan e[ATTN_PLANS];
    uint64_t clock;
} attn_cache;

static void plan_clear(attn_plan *e)
{
    if (e->plan) cudnnBackendDestroyDescriptor(e->plan);
    lb_cudnn_graph_free(&e->b);
    memset(e, 0, sizeof *e);
}

extern "C" void lb_cuda_attention_cache_free(void *cache)
{
    attn_cache *c = (attn_cache *)cache;
    if (!c) return;
    for (int i = 0; i < ATTN_PLANS; i++) plan_clear(&c->e[i]);
    free(c);
}

static bool env_is_1(const char *name)
{
    const char *v = getenv(name);
    return v && strcmp(v, "1") == 0;
}

/* build: fills e (already keyed) with the first variant an engine takes */
static void build(cudnnHandle_t h, attn_plan *e)
{
    static const char *const names[2][2] = {{"P bf16", "P fp32"},
                                            {"mask after lse", "mask before lse"}};
    const char *why = "";
    int st = 0, variant = 0;
    int64_t engine = -1;
    for (variant = 0; variant < 2 && !e->plan; variant++) {
        lb_cudnn_graph_init(&e->b, UID_VIRT);
        if (e->kind == ATTN_FWD)
            e->plan = build_fwd(h, e->B, e->T, e->nh, e->nkv, e->hd,
                                variant == 0 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT, &e->ws,
                                &engine, &e->b);
        else
            e->plan = build_bwd(h, e->B, e->T, e->nh, e->nkv, e->hd, variant == 1, e->det, &e->ws,
                                &engine, &e->b);
        if (!e->plan) {
            why = e->b.what ? e->b.what : "";
            st = (int)e->b.err;
            lb_cudnn_graph_free(&e->b);
        }
    }
    if (!env_is_1("LOWBIT_CUDNN_DEBUG")) return;
    const char *kind = e->kind == ATTN_FWD ? "fwd" : e->det ? "bwd (deterministic)" : "bwd";
    if (e->plan)
        fprintf(stderr, "lowbit: cuDNN attention %s B%lld T%lld %lld/%lld hd%lld: engine %lld "
                        "(%s), workspace %lld bytes\n", kind, (long long)e->B, (long long)e->T,
                (long long)e->nh, (long long)e->nkv, (long long)e->hd, (long long)engine,
                names[e->kind][variant - 1], (long long)e->ws);
    else
        fprintf(stderr, "lowbit: cuDNN attention %s refused B%lld T%lld %lld/%lld hd%lld: %s "
                        "(%d); using the plain kernel\n", kind, (long long)e->B, (long long)e->T,
                (long long)e->nh, (long long)e->nkv, (long long)e->hd, why, st);
}

/* get_plan: the cached plan of this call, built on first use (the least
 * recently used entry makes room) */
static const attn_plan *get_plan(lb_ctx *ctx, attn_kind kind, bool det, int64_t B, int64_t T,
                                 int64_t nh, int64_t nkv, int64_t hd)
{
    lb_cuda_state *cs = lb_cuda_state_of(ctx);
    if (!cs->attn_cache) {
        cs->attn_cache = calloc(1, sizeof(attn_cache));
        LB_CHECKF(cs->attn_cache, "attention_cudnn: out of host memory for the plan cache");
    }
    attn_cache *c = (attn_cache *)cs->attn_cache;
    attn_plan *victim = &c->e[0];
    for (int i = 0; i < ATTN_PLANS; i++) {
        attn_plan *e = &c->e[i];
        if (e->used && e->kind == kind && e->det == det && e->B == B && e->T == T &&
            e->nh == nh && e->nkv == nkv && e->hd == hd) {
            e->clock = ++c->clock;
            return e;
        }
        if (e->clock < victim->clock) victim = e;
    }
    plan_clear(victim);
    victim->used = true;
    victim->kind = kind;
    victim->det = det;
    victim->B = B, victim->T = T, victim->nh = nh, victim->nkv = nkv, victim->hd = hd;
    victim->clock = ++c->clock;
    build(cs->cudnn, victim);
    return victim;
}

/* ---- accumulating cuDNN's grads ----------------------------------------------------- */

/* accum_kernel: dst += src, n8 packs of 8 bf16 (16-byte aligned) */
__global__ void accum_kernel(bf16 *__restrict__ dst, const bf16 *__restrict__ src, int64_t n8)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n8;
         i += (int64_t)gridDim.x * blockDim.x) {
        float a[LB_PACK], b[LB_PACK];
        lb_ld8(dst + i * LB_PACK, a);
        lb_ld8(src + i * LB_PACK, b);
#pragma unroll
        for (int k = 0; k < LB_PACK; k++) a[k] += b[k];
        lb_st8(dst + i * LB_PACK, a);
    }
}

static void accumulate(lb_ctx *ctx, void *dst, const void *src, int64_t n)
{
    if (!dst || n == 0) return;
    LB_CHECKF(n % LB_PACK == 0 && lb_aligned16(dst) && lb_aligned16(src),
              "attention_cudnn: grads of %lld elements (not a multiple of 8, or unaligned)",
              (long long)n);
    int64_t n8 = n / LB_PACK;
    accum_kernel<<<lb_cuda_grid(ctx, n8, LB_CUDA_THREADS), LB_CUDA_THREADS, 0,
                   lb_cuda_stream(ctx)>>>((bf16 *)dst, (const bf16 *)src, n8);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

/* ---- entry points ---------------------------------------------------------------- */

static bool shape_ok(int64_t B, int64_t T, int64_t S, int64_t nh, int64_t nkv, int64_t hd,
                     int64_t q_pos0)
{
    if (env_is_1("LOWBIT_ATTN_PLAIN")) return false;
    return q_pos0 == 0 && S == T && T >= 1 && B >= 1 && nkv >= 1 && nh % nkv == 0 &&
           hd % 8 == 0 && hd >= 8 && hd <= 128;
}

extern "C" bool lb_cuda_attention_cudnn_supported(lb_ctx *ctx, int64_t B, int64_t T, int64_t S,
                                                  int64_t nh, int64_t nkv, int64_t hd,
                                                  int64_t q_pos0)
{
    if (!shape_ok(B, T, S, nh, nkv, hd, q_pos0)) return false;
    if (lb_cuda_state_of(ctx)->cc_major < 8) return false;
    return get_plan(ctx, ATTN_FWD, false, B, T, nh, nkv, hd)->plan != NULL;
}

extern "C" bool lb_cuda_attention_cudnn_bwd_supported(lb_ctx *ctx, int64_t B, int64_t T,
                                                      int64_t nh, int64_t nkv, int64_t hd)
{
    if (!shape_ok(B, T, T, nh, nkv, hd, 0)) return false;
    if (lb_cuda_state_of(ctx)->cc_major < 8) return false;
    bool det = env_is_1("LB_DETERMINISTIC");
    return get_plan(ctx, ATTN_BWD, det, B, T, nh, nkv, hd)->plan != NULL;
}

extern "C" void lb_cuda_attention_cudnn_fwd(lb_ctx *ctx, const void *q, const void *k,
                                            const void *v, void *out, float *lse, int64_t B,
                                            int64_t T, int64_t nh, int64_t nkv, int64_t hd)
{
    const attn_plan *e = get_plan(ctx, ATTN_FWD, false, B, T, nh, nkv, hd);
    LB_CHECKF(e->plan, "lb_cuda_attention_cudnn_fwd: shape B%lld T%lld %lld/%lld hd%lld is not "
              "supported (ask lb_cuda_attention_cudnn_supported first)", (long long)B,
              (long long)T, (long long)nh, (long long)nkv, (long long)hd);
    /* the graph always writes Stats; without a caller buffer it goes to scratch */
    size_t stats_bytes = lse ? 0 : (size_t)(B * nh * T) * sizeof(float);
    size_t stats_at = ((size_t)e->ws + 255) & ~(size_t)255;
    char *scratch = (char *)lb_cuda_tmp_alloc(ctx, stats_at + stats_bytes);
    float *stats = lse ? lse : (float *)(scratch + stats_at);
    float scale = 1.0f / sqrtf((float)hd), neg_inf = -INFINITY;
    int64_t uids[7] = {UID_Q, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE, UID_NEG_INF};
    void *ptrs[7] = {(void *)q, (void *)k, (void *)v, out, stats, &scale, &neg_inf};
    lb_cudnn_execute(ctx, e->plan, 7, uids, ptrs, scratch);
    lb_cuda_tmp_free(ctx, scratch);
}

extern "C" void lb_cuda_attention_cudnn_bwd(lb_ctx *ctx, const void *q, const void *k,
                                            const void *v, const void *out, const float *lse,
                                            const void *dout, void *dq, void *dk, void *dv,
                                            bool overwrite, int64_t B, int64_t T, int64_t nh,
                                            int64_t nkv, int64_t hd)
{
    const int64_t nq = B * T * nh * hd, nk = B * T * nkv * hd, nrow = B * nh * T;
    if (!lb_cuda_attention_cudnn_bwd_supported(ctx, B, T, nh, nkv, hd)) {
        if (overwrite) {   /* the plain kernel accumulates: start the new grads at zero */
            lb_cuda_memset_zero(ctx, dq, (size_t)nq * 2);
            lb_cuda_memset_zero(ctx, dk, (size_t)nk * 2);
            lb_cuda_memset_zero(ctx, dv, (size_t)nk * 2);
        }
        lb_cuda_attention_bwd(ctx, q, k, v, out, lse, dout, dq, dk, dv, B, T, T, nh, nkv, hd, 0);
        return;
    }
    bool det = env_is_1("LB_DETERMINISTIC");
    const attn_plan *e = get_plan(ctx, ATTN_BWD, det, B, T, nh, nkv, hd);
    /* scratch: cuDNN's dQ, dK, dV (bf16; none when it writes the new grads
     * directly), softmax_sum (f32 rows), dQ_accum (f32, not deterministic),
     * the engine's workspace; 256-byte aligned */
    size_t off[7] = {0};
    size_t tq = overwrite ? 0 : (size_t)nq * 2, tk = overwrite ? 0 : (size_t)nk * 2;
    const size_t bytes[6] = {tq, tk, tk, (size_t)nrow * 4, det ? 0 : (size_t)nq * 4, (size_t)e->ws};
    for (int i = 0; i < 6; i++) off[i + 1] = off[i] + ((bytes[i] + 255) & ~(size_t)255);
    char *scratch = (char *)lb_cuda_tmp_alloc(ctx, off[6]);
    void *tdq = scratch + off[0], *tdk = scratch + off[1], *tdv = scratch + off[2];
    if (overwrite) {
        tdq = dq;
        tdk = dk;
        tdv = dv;
    }
    void *dsum = scratch + off[3], *acc = scratch + off[4], *ws = scratch + off[5];
    /* cuDNN < 9.6 expects dQ_accum zeroed by the caller (cudnn-frontend does it) */
    if (!det && cudnnGetVersion() < 90600) lb_cuda_memset_zero(ctx, acc, bytes[4]);
    float scale = 1.0f / sqrtf((float)hd), neg_inf = -INFINITY, one = 1.0f;
    int64_t uids[14] = {UID_Q, UID_K, UID_V, UID_O, UID_DO, UID_STATS, UID_DQ,
                        UID_DK, UID_DV, UID_SCALE, UID_NEG_INF, UID_ONE, UID_SOFTMAX_SUM,
                        UID_DQ_ACCUM};
    void *ptrs[14] = {(void *)q, (void *)k, (void *)v, (void *)out, (void *)dout, (void *)lse,
                      tdq, tdk, tdv, &scale, &neg_inf, &one, dsum, acc};
    lb_cudnn_execute(ctx, e->plan, det ? 13 : 14, uids, ptrs, ws);
    if (!overwrite) {
        accumulate(ctx, dq, tdq, nq);
        accumulate(ctx, dk, tdk, nk);
        accumulate(ctx, dv, tdv, nk);
    }
    lb_cuda_tmp_free(ctx, scratch);
}
