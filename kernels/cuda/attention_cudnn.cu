/* attention_cudnn.cu — causal grouped-query attention forward through
 * cuDNN's fused (flash) attention, built with the backend graph API from C.
 *
 * cuDNN 9 has no "causal SDPA" node this code can name directly (its
 * SDPA_FWD operation takes no causal mask), so the graph is the one the
 * cudnn-frontend library builds for SDPA, which the runtime-compiled fused
 * attention engine recognises:
 *
 *   S  = Q @ K^T                      matmul      (B, nh, T, S) fp32
 *   S  = S * scale                    pointwise   scale by value
 *   S  = row >= col ? S : -inf        gen_index x2, cmp_ge, binary_select
 *   M  = max_s S                      reduction   (B, nh, T, 1)
 *   E  = exp(S - M), Z = sum_s E      pointwise, reduction
 *   lse = M + log Z                   -> Stats output (B, nh, T, 1) fp32
 *   O  = (E / Z) @ V                  matmul      (B, nh, T, hd) bf16
 *
 * Q, K, V, O keep lowbit's (B, T, heads, hd) layout: cuDNN is handed dims
 * (B, heads, T, hd) with strides (T*heads*hd, hd, heads*hd, 1), and K^T is K
 * with its last two strides swapped, so nothing is transposed. Grouped
 * heads: K and V carry nkv heads and the engine broadcasts them over the
 * nh / nkv query heads of each group.
 *
 * Only q_pos0 == 0 and S == T (training, prefill) take this path: the mask
 * above is aligned top-left. Decode and KV-cache continuation use the plain
 * kernels (attention.cu). The backward reuses the plain backward kernel
 * with cuDNN's lse (the same quantity: log-sum-exp of the scaled scores);
 * a cuDNN backward graph is not built yet.
 *
 * Built plans (with the graph descriptors they came from) are cached per
 * shape and cuDNN handle in a small table in this file (the CUDA state has
 * no slot for it yet); a shape the engines refuse is cached as refused, and the op
 * falls back to the plain kernel.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

typedef cudnnBackendDescriptor_t desc_t;

enum { UID_Q = 1, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE, UID_NEG_INF, UID_VIRT = 100 };

/* ---- graph building ------------------------------------------------------------- */

/* builder: every descriptor made while building one graph (destroyed after
 * the plan is finalized), and the first failure, if any. Tensor and op
 * descriptors that fail to finalize mean the graph is not supported here;
 * the caller falls back instead of aborting. */
typedef struct builder {
    desc_t d[96];
    int n;
    cudnnStatus_t err;
    const char *what;
    int64_t next_uid;
} builder;

static desc_t mk(builder *b, cudnnBackendDescriptorType_t t)
{
    desc_t d = NULL;
    LB_CHECKF(b->n < (int)(sizeof b->d / sizeof b->d[0]), "attention_cudnn: too many descriptors");
    LB_CUDNN_CHECK(cudnnBackendCreateDescriptor(t, &d));
    b->d[b->n++] = d;
    return d;
}

static void set(builder *b, desc_t d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t,
                int64_t n, const void *v, const char *what)
{
    if (b->err != CUDNN_STATUS_SUCCESS) return;
    cudnnStatus_t s = cudnnBackendSetAttribute(d, a, t, n, v);
    if (s != CUDNN_STATUS_SUCCESS) {
        b->err = s;
        b->what = what;
    }
}

static void fin(builder *b, desc_t d, const char *what)
{
    if (b->err != CUDNN_STATUS_SUCCESS) return;
    cudnnStatus_t s = cudnnBackendFinalize(d);
    if (s != CUDNN_STATUS_SUCCESS) {
        b->err = s;
        b->what = what;
    }
}

static void builder_free(builder *b)
{
    for (int i = b->n - 1; i >= 0; i--) cudnnBackendDestroyDescriptor(b->d[i]);
    b->n = 0;
}

/* tensor: uid < 0 makes a virtual tensor with the next virtual uid */
static desc_t tensor(builder *b, int64_t uid, cudnnDataType_t dt, const int64_t dim[4],
                     const int64_t str[4], bool by_value)
{
    desc_t t = mk(b, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    bool virt = uid < 0;
    if (virt) uid = b->next_uid++;
    int64_t align = 16;
    set(b, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt, "tensor dtype");
    set(b, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim, "tensor dims");
    set(b, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, str, "tensor strides");
    set(b, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "tensor uid");
    set(b, t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, "tensor alignment");
    set(b, t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt, "tensor virtual");
    if (by_value) {
        bool bv = true;
        set(b, t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &bv, "tensor by value");
    }
    fin(b, t, "tensor");
    return t;
}

/* pointwise: y = mode(x[, x2[, t]]) computed in `prec`; axis >= 0 for
 * GEN_INDEX */
static desc_t pointwise(builder *b, cudnnPointwiseMode_t mode, cudnnDataType_t prec, desc_t x,
                        desc_t x2, desc_t t3, desc_t y, int64_t axis)
{
    desc_t p = mk(b, CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    set(b, p, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pw mode");
    set(b, p, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec, "pw prec");
    if (axis >= 0) set(b, p, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis, "pw axis");
    fin(b, p, "pointwise descriptor");
    desc_t op = mk(b, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &p,
        "pw op desc");
    set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "pw x");
    if (x2)
        set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x2,
            "pw b");
    if (t3)
        set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t3,
            "pw t");
    set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "pw y");
    fin(b, op, "pointwise op");
    return op;
}

static desc_t matmul(builder *b, desc_t a, desc_t bm, desc_t c)
{
    cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    desc_t m = mk(b, CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    set(b, m, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32, "matmul comp");
    fin(b, m, "matmul descriptor");
    desc_t op = mk(b, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a, "mm a");
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bm, "mm b");
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c, "mm c");
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &m, "mm desc");
    fin(b, op, "matmul op");
    return op;
}

static desc_t reduction(builder *b, cudnnReduceTensorOp_t mode, desc_t x, desc_t y)
{
    cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    desc_t r = mk(b, CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    set(b, r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode,
        "red mode");
    set(b, r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32, "red comp");
    fin(b, r, "reduction descriptor");
    desc_t op = mk(b, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    set(b, op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "red x");
    set(b, op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "red y");
    set(b, op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r,
        "red desc");
    fin(b, op, "reduction op");
    return op;
}

/* plan_from_graph: the first engine config of the heuristics (mode A, then
 * fallback) whose execution plan finalizes; NULL when none does. The plan
 * is not part of the builder (it outlives it). */
static desc_t plan_from_graph(builder *b, cudnnHandle_t h, desc_t graph, int64_t *ws)
{
    cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    for (int mi = 0; mi < 2; mi++) {
        desc_t heur = mk(b, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
        builder hb = {};
        hb.err = CUDNN_STATUS_SUCCESS;
        set(&hb, heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
            &graph, "heur graph");
        set(&hb, heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &modes[mi],
            "heur mode");
        fin(&hb, heur, "heuristics");
        if (hb.err != CUDNN_STATUS_SUCCESS) continue;
        enum { MAX_CFG = 8 };
        desc_t cfg[MAX_CFG];
        for (int i = 0; i < MAX_CFG; i++) cfg[i] = mk(b, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
        int64_t n = 0;
        if (cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, MAX_CFG, &n, cfg) !=
            CUDNN_STATUS_SUCCESS)
            continue;
        for (int64_t i = 0; i < n && i < MAX_CFG; i++) {
            desc_t plan = NULL;
            LB_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR,
                                                        &plan));
            bool ok = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
                                               CUDNN_TYPE_HANDLE, 1, &h) == CUDNN_STATUS_SUCCESS &&
                      cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                               &cfg[i]) == CUDNN_STATUS_SUCCESS &&
                      cudnnBackendFinalize(plan) == CUDNN_STATUS_SUCCESS;
            int64_t n_ws = 0;
            ok = ok && cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                CUDNN_TYPE_INT64, 1, &n_ws,
                                                ws) == CUDNN_STATUS_SUCCESS;
            if (ok) return plan;
            cudnnBackendDestroyDescriptor(plan);
        }
    }
    return NULL;
}

/* build_fwd: the forward graph above for one shape, its P in `p_dtype`;
 * returns the plan or NULL (with b->err / b->what saying why, when a
 * descriptor was refused). */
static desc_t build_fwd(cudnnHandle_t h, int64_t B, int64_t T, int64_t nh, int64_t nkv,
                        int64_t hd, cudnnDataType_t p_dtype, int64_t *ws, builder *b)
{
    const cudnnDataType_t bf = CUDNN_DATA_BFLOAT16, f32 = CUDNN_DATA_FLOAT;
    const cudnnDataType_t i32 = CUDNN_DATA_INT32, boolean = CUDNN_DATA_BOOLEAN;
    const int64_t S = T;
    const int64_t q_dim[4] = {B, nh, T, hd}, q_str[4] = {T * nh * hd, hd, nh * hd, 1};
    const int64_t kt_dim[4] = {B, nkv, hd, S}, kt_str[4] = {S * nkv * hd, hd, 1, nkv * hd};
    const int64_t v_dim[4] = {B, nkv, S, hd}, v_str[4] = {S * nkv * hd, hd, nkv * hd, 1};
    const int64_t s_dim[4] = {B, nh, T, S}, s_str[4] = {nh * T * S, T * S, S, 1};
    const int64_t r_dim[4] = {B, nh, T, 1}, r_str[4] = {nh * T, T, 1, 1};
    const int64_t one[4] = {1, 1, 1, 1};

    desc_t Q = tensor(b, UID_Q, bf, q_dim, q_str, false);
    desc_t Kt = tensor(b, UID_K, bf, kt_dim, kt_str, false);
    desc_t V = tensor(b, UID_V, bf, v_dim, v_str, false);
    desc_t O = tensor(b, UID_O, bf, q_dim, q_str, false);
    desc_t stats = tensor(b, UID_STATS, f32, r_dim, r_str, false);
    desc_t scale = tensor(b, UID_SCALE, f32, one, one, true);
    desc_t neg_inf = tensor(b, UID_NEG_INF, f32, one, one, true);
    desc_t s1 = tensor(b, -1, f32, s_dim, s_str, false), s2 = tensor(b, -1, f32, s_dim, s_str, false);
    desc_t row = tensor(b, -1, i32, s_dim, s_str, false), col = tensor(b, -1, i32, s_dim, s_str, false);
    desc_t mask = tensor(b, -1, boolean, s_dim, s_str, false);
    desc_t s3 = tensor(b, -1, f32, s_dim, s_str, false);
    desc_t mx = tensor(b, -1, f32, r_dim, r_str, false);
    desc_t sub = tensor(b, -1, f32, s_dim, s_str, false), ex = tensor(b, -1, f32, s_dim, s_str, false);
    desc_t sum = tensor(b, -1, f32, r_dim, r_str, false), lg = tensor(b, -1, f32, r_dim, r_str, false);
    desc_t p = tensor(b, -1, p_dtype, s_dim, s_str, false);

    desc_t ops[14];
    int n = 0;
    ops[n++] = matmul(b, Q, Kt, s1);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, f32, s1, scale, NULL, s2, -1);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_GEN_INDEX, i32, s2, NULL, NULL, row, 2);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_GEN_INDEX, i32, s2, NULL, NULL, col, 3);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_CMP_GE, boolean, row, col, NULL, mask, -1);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_BINARY_SELECT, f32, s2, neg_inf, mask, s3, -1);
    ops[n++] = reduction(b, CUDNN_REDUCE_TENSOR_MAX, s3, mx);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_SUB, f32, s3, mx, NULL, sub, -1);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_EXP, f32, sub, NULL, NULL, ex, -1);
    ops[n++] = reduction(b, CUDNN_REDUCE_TENSOR_ADD, ex, sum);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_LOG, f32, sum, NULL, NULL, lg, -1);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_ADD, f32, mx, lg, NULL, stats, -1);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_DIV, f32, ex, sum, NULL, p, -1);
    ops[n++] = matmul(b, p, V, O);

    desc_t graph = mk(b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    set(b, graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h, "graph handle");
    set(b, graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, n, ops, "graph ops");
    fin(b, graph, "operation graph");
    if (b->err != CUDNN_STATUS_SUCCESS) return NULL;
    desc_t plan = plan_from_graph(b, h, graph, ws);
    if (!plan) b->what = "no engine config finalizes";
    return plan;
}

/* ---- plan cache ----------------------------------------------------------------- */

typedef struct plan_entry {
    cudnnHandle_t handle;
    int64_t B, T, nh, nkv, hd;
    desc_t plan;      /* NULL: refused */
    builder b;        /* the graph's descriptors, kept alive with the plan */
    int64_t ws;
    uint64_t used;    /* clock of the last use, for eviction */
} plan_entry;

#define PLAN_CACHE 32
static plan_entry plan_cache[PLAN_CACHE];
static uint64_t plan_clock;

static const plan_entry *fwd_plan(cudnnHandle_t h, int64_t B, int64_t T, int64_t nh, int64_t nkv,
                                  int64_t hd)
{
    plan_entry *victim = &plan_cache[0];
    for (int i = 0; i < PLAN_CACHE; i++) {
        plan_entry *e = &plan_cache[i];
        if (e->handle == h && e->B == B && e->T == T && e->nh == nh && e->nkv == nkv &&
            e->hd == hd) {
            e->used = ++plan_clock;
            return e;
        }
        if (e->used < victim->used) victim = e;
    }
    if (victim->plan) cudnnBackendDestroyDescriptor(victim->plan);
    builder_free(&victim->b);
    memset(victim, 0, sizeof *victim);
    /* P in bf16 first (what the fused engine reads for its second GEMM),
     * then fp32 */
    cudnnDataType_t p_types[2] = {CUDNN_DATA_BFLOAT16, CUDNN_DATA_FLOAT};
    const char *why = "";
    int st = 0;
    for (int i = 0; i < 2 && !victim->plan; i++) {
        builder *b = &victim->b;
        b->err = CUDNN_STATUS_SUCCESS;
        b->next_uid = UID_VIRT;
        victim->plan = build_fwd(h, B, T, nh, nkv, hd, p_types[i], &victim->ws, b);
        if (!victim->plan) {
            why = b->what ? b->what : "";
            st = (int)b->err;
            builder_free(b);
        }
    }
    if (!victim->plan && getenv("LOWBIT_CUDNN_DEBUG"))
        fprintf(stderr, "lowbit: cuDNN attention refused B%lld T%lld %lld/%lld hd%lld: %s (%d); "
                        "using the plain kernel\n", (long long)B, (long long)T, (long long)nh,
                (long long)nkv, (long long)hd, why, st);
    victim->handle = h;
    victim->B = B, victim->T = T, victim->nh = nh, victim->nkv = nkv, victim->hd = hd;
    victim->used = ++plan_clock;
    return victim;
}

/* ---- entry points ---------------------------------------------------------------- */

static bool shape_ok(int64_t B, int64_t T, int64_t S, int64_t nh, int64_t nkv, int64_t hd,
                     int64_t q_pos0)
{
    const char *force = getenv("LOWBIT_ATTN_PLAIN");
    if (force && strcmp(force, "1") == 0) return false;
    return q_pos0 == 0 && S == T && T >= 1 && B >= 1 && nkv >= 1 && nh % nkv == 0 &&
           hd % 8 == 0 && hd >= 8 && hd <= 128;
}

extern "C" bool lb_cuda_attention_cudnn_supported(lb_ctx *ctx, int64_t B, int64_t T, int64_t S,
                                                  int64_t nh, int64_t nkv, int64_t hd,
                                                  int64_t q_pos0)
{
    if (!shape_ok(B, T, S, nh, nkv, hd, q_pos0)) return false;
    lb_cuda_state *cs = lb_cuda_state_of(ctx);
    if (cs->cc_major < 8) return false;
    return fwd_plan(cs->cudnn, B, T, nh, nkv, hd)->plan != NULL;
}

extern "C" void lb_cuda_attention_cudnn_fwd(lb_ctx *ctx, const void *q, const void *k,
                                            const void *v, void *out, float *lse, int64_t B,
                                            int64_t T, int64_t nh, int64_t nkv, int64_t hd)
{
    lb_cuda_state *cs = lb_cuda_state_of(ctx);
    const plan_entry *e = fwd_plan(cs->cudnn, B, T, nh, nkv, hd);
    LB_CHECKF(e->plan, "lb_cuda_attention_cudnn_fwd: shape B%lld T%lld %lld/%lld hd%lld is not "
              "supported (ask lb_cuda_attention_cudnn_supported first)", (long long)B,
              (long long)T, (long long)nh, (long long)nkv, (long long)hd);
    /* the graph always writes Stats; without a caller buffer it goes to step memory */
    float *stats = lse ? lse : (float *)lb_cuda_step_alloc(ctx, (size_t)(B * nh * T) * sizeof(float));
    void *ws = lb_cuda_step_alloc(ctx, (size_t)e->ws);
    float scale = 1.0f / sqrtf((float)hd), neg_inf = -INFINITY;
    int64_t uids[7] = {UID_Q, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE, UID_NEG_INF};
    void *ptrs[7] = {(void *)q, (void *)k, (void *)v, out, stats, &scale, &neg_inf};
    desc_t vp = NULL;
    LB_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp));
    LB_CUDNN_CHECK(cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                            CUDNN_TYPE_INT64, 7, uids));
    LB_CUDNN_CHECK(cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                            CUDNN_TYPE_VOID_PTR, 7, ptrs));
    LB_CUDNN_CHECK(cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
                                            CUDNN_TYPE_VOID_PTR, 1, &ws));
    LB_CUDNN_CHECK(cudnnBackendFinalize(vp));
    LB_CUDNN_CHECK(cudnnSetStream(cs->cudnn, cs->stream));
    LB_CUDNN_CHECK(cudnnBackendExecute(cs->cudnn, e->plan, vp));
    LB_CUDNN_CHECK(cudnnBackendDestroyDescriptor(vp));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

extern "C" void lb_cuda_attention_cudnn_bwd(lb_ctx *ctx, const void *q, const void *k,
                                            const void *v, const void *out, const float *lse,
                                            const void *dout, void *dq, void *dk, void *dv,
                                            int64_t B, int64_t T, int64_t nh, int64_t nkv,
                                            int64_t hd)
{
    lb_cuda_attention_bwd(ctx, q, k, v, out, lse, dout, dq, dk, dv, B, T, T, nh, nkv, hd, 0);
}
