/* gemm.cu — matrix products on the GPU through cuBLASLt.
 *
 * lb_matmul (either operand transposed, batched or shared B) and nn.Linear's
 * x @ W^T + b, forward and backward, with bf16 operands, fp32 accumulation
 * (CUBLAS_COMPUTE_32F, no TF32) and the output type the dtype rules ask for:
 * bf16 activations and activation grads, fp32 weight grads accumulated
 * straight into the master grad. A plan (descriptor, layouts, heuristic's
 * algorithm) is built once per problem and kept in a small table in the
 * backend state; a problem cuBLASLt refuses runs on a plain tiled CUDA
 * kernel (slow, correct) instead.
 *
 * Row-major vs column-major, once: lowbit's arrays are row-major, cuBLASLt's
 * column-major. A row-major (r, c) array is the column-major (c, r) array
 * with leading dimension c, i.e. its transpose. So the row-major product
 *     C (M, N) = op(A) (M, K) @ op(B) (K, N)
 * is, read column-major,
 *     C^T (N, M) = op(B)^T (N, K) @ op(A)^T (K, M):
 * cuBLASLt's "A" is our b, its "B" is our a, (m, n, k) = (N, M, K), each
 * operand keeps its own transpose flag, and the leading dimensions are the
 * row lengths as stored: lda = tb ? K : N (b), ldb = ta ? M : K (a), ldc = N.
 * A bias epilogue adds a vector of length m = N to every column of C^T, i.e.
 * to every row of C: exactly nn.Linear's bias.
 *
 * Rounding: with a bf16 output, cuBLASLt's epilogue was seen (H100, CUDA
 * 13.0) to round the product to bf16 before it adds the bias or, with
 * beta = 1, the old value, and to round again after: up to one bf16 ulp of
 * the product rather than half an ulp of the result. f32 outputs (weight
 * grads) and the fallback kernel round once.
 *
 * Determinism: a plan's algorithm is fixed once chosen, and cuBLASLt runs a
 * fixed algorithm deterministically (split-K, when the heuristic picks it,
 * is limited to an fp32 reduction in the workspace, in a fixed order). The
 * fallback kernel and the bias-gradient reduction have fixed orders too.
 *
 * Not here: quantized or low-bit GEMMs (quant/), attention's products
 * (attention.cu), the op layer's shape checks (autograd/ops_gemm.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"

/* ---- plans ----------------------------------------------------------------- */

/* Everything the heuristic's answer depends on. Zeroed before it is filled,
 * so that memcmp/hashing see no stray padding. */
typedef struct gemm_key {
    int32_t opa, opb;            /* cublasOperation_t of cuBLASLt's A (our b) and B (our a) */
    int32_t d_type;              /* cudaDataType of C and D */
    int32_t epilogue;            /* cublasLtEpilogue_t */
    int32_t bias_type;           /* cudaDataType of the bias, or -1 */
    int32_t align_a, align_b, align_c, align_bias;   /* bytes, powers of two up to 256 */
    int32_t pad_;
    int64_t m, n, k, lda, ldb, ldc;
    int64_t batch, stride_a, stride_b, stride_c;
} gemm_key;

typedef struct gemm_plan {
    gemm_key key;
    bool used;
    bool fallback;               /* cuBLASLt has no algorithm: the plain kernel runs it */
    bool split_k;                /* the algorithm splits the reduction (stats only) */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} gemm_plan;

#define GEMM_PLAN_SLOTS 256      /* a model uses a few dozen distinct shapes */

typedef struct lb_cuda_gemm_cache {
    gemm_plan slot[GEMM_PLAN_SLOTS];
    bool force_fallback;         /* tests: run everything on the plain kernel */
    int64_t n_built, n_fallback, n_split_k;   /* plans built, refused by cuBLASLt, split-K */
} lb_cuda_gemm_cache;

static void plan_destroy(gemm_plan *p)
{
    if (!p->used) return;
    if (!p->fallback) {
        cublasLtMatrixLayoutDestroy(p->lc);
        cublasLtMatrixLayoutDestroy(p->lb);
        cublasLtMatrixLayoutDestroy(p->la);
        cublasLtMatmulDescDestroy(p->desc);
    }
    memset(p, 0, sizeof *p);
}

void lb_cuda_gemm_cache_free(void *cache)
{
    lb_cuda_gemm_cache *c = (lb_cuda_gemm_cache *)cache;
    if (!c) return;
    for (int i = 0; i < GEMM_PLAN_SLOTS; i++) plan_destroy(&c->slot[i]);
    free(c);
}

/* gemm_cache: ctx's plan cache (lb_cuda_state.gemm_cache), made on first use. */
static lb_cuda_gemm_cache *gemm_cache(lb_ctx *ctx)
{
    lb_cuda_state *st = lb_cuda_state_of(ctx);
    if (!st->gemm_cache) {
        st->gemm_cache = calloc(1, sizeof(lb_cuda_gemm_cache));
        LB_CHECKF(st->gemm_cache, "gemm: out of host memory for the plan cache");
    }
    return (lb_cuda_gemm_cache *)st->gemm_cache;
}

void lb_cuda_gemm_force_fallback(lb_ctx *ctx, bool on) { gemm_cache(ctx)->force_fallback = on; }

void lb_cuda_gemm_stats(lb_ctx *ctx, int64_t *n_plans, int64_t *n_fallback, int64_t *n_split_k)
{
    lb_cuda_gemm_cache *c = gemm_cache(ctx);
    *n_plans = c->n_built;
    *n_fallback = c->n_fallback;
    *n_split_k = c->n_split_k;
}

static uint64_t key_hash(const gemm_key *k)
{
    const unsigned char *p = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* alignment: the largest power of two up to 256 that divides the address
 * and the batch stride in bytes (each batch's matrix starts there too). */
static int32_t alignment(const void *ptr, int64_t stride_bytes)
{
    uintptr_t v = (uintptr_t)ptr | (uintptr_t)stride_bytes | 256u;
    return (int32_t)(v & (~v + 1));
}

static void layout_new(cublasLtMatrixLayout_t *l, cudaDataType t, int64_t rows, int64_t cols,
                       int64_t ld, int64_t batch, int64_t stride)
{
    LB_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(l, t, (uint64_t)rows, (uint64_t)cols, ld));
    if (batch > 1) {
        int32_t b = (int32_t)batch;
        LB_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                         &b, sizeof b));
        LB_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
            *l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    }
}

/* plan_build: descriptor, layouts and the heuristic's first algorithm for
 * `k`; p->fallback when cuBLASLt returns none (or refuses the problem). */
static void plan_build(lb_ctx *ctx, gemm_plan *p, const gemm_key *k)
{
    lb_cuda_state *st = lb_cuda_state_of(ctx);
    memset(p, 0, sizeof *p);
    p->key = *k;
    p->used = true;

    cublasOperation_t opa = (cublasOperation_t)k->opa, opb = (cublasOperation_t)k->opb;
    LB_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    LB_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
    LB_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
    cublasLtEpilogue_t epi = (cublasLtEpilogue_t)k->epilogue;
    LB_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (k->bias_type >= 0) {
        int32_t bt = k->bias_type;
        LB_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                       &bt, sizeof bt));
        /* the heuristic reads the bias pointer's alignment only: any pointer
         * with the key's alignment stands in until the call sets the real one */
        const void *stand_in = (const void *)(uintptr_t)k->align_bias;
        LB_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                       &stand_in, sizeof stand_in));
    }
    /* stored shapes (column-major): op(A) is (m, k), op(B) is (k, n) */
    int64_t a_rows = opa == CUBLAS_OP_N ? k->m : k->k, a_cols = opa == CUBLAS_OP_N ? k->k : k->m;
    int64_t b_rows = opb == CUBLAS_OP_N ? k->k : k->n, b_cols = opb == CUBLAS_OP_N ? k->n : k->k;
    layout_new(&p->la, CUDA_R_16BF, a_rows, a_cols, k->lda, k->batch, k->stride_a);
    layout_new(&p->lb, CUDA_R_16BF, b_rows, b_cols, k->ldb, k->batch, k->stride_b);
    layout_new(&p->lc, (cudaDataType)k->d_type, k->m, k->n, k->ldc, k->batch, k->stride_c);

    cublasLtMatmulPreference_t pref;
    LB_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = st->lt_workspace_size;
    LB_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &ws, sizeof ws));
    uint32_t al[4] = {(uint32_t)k->align_a, (uint32_t)k->align_b, (uint32_t)k->align_c,
                      (uint32_t)k->align_c};
    cublasLtMatmulPreferenceAttributes_t which[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; i++)
        LB_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, which[i], &al[i], sizeof al[i]));
    /* split-K may reduce only in fp32 in the workspace, in a fixed order: not
     * "in place" or in the output type, which would round a bf16 output once
     * per partial sum */
    uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    LB_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                         &schemes, sizeof schemes));

    cublasLtMatmulHeuristicResult_t res;
    int n_res = 0;
    cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(st->lt, p->desc, p->la, p->lb, p->lc, p->lc,
                                                      pref, 1, &res, &n_res);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s == CUBLAS_STATUS_SUCCESS && n_res > 0 && res.state == CUBLAS_STATUS_SUCCESS) {
        p->algo = res.algo;
        int32_t splits = 1;
        size_t got = 0;
        if (cublasLtMatmulAlgoConfigGetAttribute(&p->algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits,
                                                 sizeof splits, &got) == CUBLAS_STATUS_SUCCESS)
            p->split_k = splits > 1;
    } else {
        /* NOT_SUPPORTED (or no algorithm) is an answer, not a failure */
        LB_CHECKF(s == CUBLAS_STATUS_SUCCESS || s == CUBLAS_STATUS_NOT_SUPPORTED,
                  "cublasLtMatmulAlgoGetHeuristic failed: status %d", (int)s);
        cublasLtMatrixLayoutDestroy(p->lc);
        cublasLtMatrixLayoutDestroy(p->lb);
        cublasLtMatrixLayoutDestroy(p->la);
        cublasLtMatmulDescDestroy(p->desc);
        p->fallback = true;
    }
}

/* plan_get: the cached plan for `k`, built on first use. A full table
 * replaces the slot the key hashes to. */
static gemm_plan *plan_get(lb_ctx *ctx, const gemm_key *k)
{
    lb_cuda_gemm_cache *c = gemm_cache(ctx);
    uint64_t h = key_hash(k);
    for (int i = 0; i < GEMM_PLAN_SLOTS; i++) {
        gemm_plan *p = &c->slot[(h + (uint64_t)i) % GEMM_PLAN_SLOTS];
        if (p->used && memcmp(&p->key, k, sizeof *k) == 0) return p;
        if (!p->used) {
            plan_build(ctx, p, k);
            c->n_built++;
            c->n_fallback += p->fallback;
            c->n_split_k += p->split_k;
            return p;
        }
    }
    gemm_plan *p = &c->slot[h % GEMM_PLAN_SLOTS];
    plan_destroy(p);
    plan_build(ctx, p, k);
    c->n_built++;
    c->n_fallback += p->fallback;
    c->n_split_k += p->split_k;
    return p;
}

/* ---- the fallback kernel ---------------------------------------------------- */

#define FB_TILE 16

/* gemm_fallback: the row-major product c[z] = op(a[z]) @ op(b[z]) (+ bias)
 * + beta c[z], one 16x16 output tile per block (blockIdx.x: rows,
 * blockIdx.y: columns, blockIdx.z: batch), fp32 accumulation in k order.
 * c is not read when beta is 0. */
template <typename TC>
__global__ void gemm_fallback(bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                              const bf16 *__restrict__ a, int64_t sa,
                              const bf16 *__restrict__ b, int64_t sb,
                              TC *__restrict__ c, int64_t sc, float beta,
                              const float *__restrict__ bias)
{
    __shared__ float as[FB_TILE][FB_TILE + 1], bs[FB_TILE][FB_TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int64_t z = blockIdx.z;
    int64_t i0 = (int64_t)blockIdx.x * FB_TILE, j0 = (int64_t)blockIdx.y * FB_TILE;
    int64_t i = i0 + ty, j = j0 + tx;
    a += z * sa;
    b += z * sb;
    c += z * sc;
    float acc = 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += FB_TILE) {
        /* as[ty][tx] = A'(i0 + ty, k0 + tx); bs[ty][tx] = B'(k0 + ty, j0 + tx) */
        int64_t ak = k0 + tx, bk = k0 + ty;
        as[ty][tx] = i < M && ak < K ? lb_ld(ta ? a + ak * M + i : a + i * K + ak) : 0.0f;
        bs[ty][tx] = bk < K && j < N ? lb_ld(tb ? b + j * K + bk : b + bk * N + j) : 0.0f;
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < FB_TILE; kk++) acc = fmaf(as[ty][kk], bs[kk][tx], acc);
        __syncthreads();
    }
    if (i < M && j < N) {
        if (bias) acc += bias[j];
        if (beta != 0.0f) acc += beta * lb_ld(c + i * N + j);
        lb_st(c + i * N + j, acc);
    }
}

/* ---- one product ------------------------------------------------------------ */

/* A row-major product over `batch` matrices (see the top of the file). */
typedef struct gemm_call {
    bool ta, tb;
    int64_t M, N, K, batch;
    const bf16 *a; int64_t stride_a;
    const bf16 *b; int64_t stride_b;   /* 0: one B for every batch */
    void *c; cudaDataType c_type; int64_t stride_c;   /* C and D: bf16 or f32 */
    float beta;                        /* 0: overwrite c; 1: accumulate into it */
    const float *bias;                 /* (N) f32, added to every row, or NULL */
} gemm_call;

/* run_fallback: the product on gemm_fallback, in launches of at most
 * 65535 batches (the grid's z limit). */
static void run_fallback(lb_ctx *ctx, const gemm_call *g)
{
    cudaStream_t s = lb_cuda_stream(ctx);
    int64_t row_tiles = (g->M + FB_TILE - 1) / FB_TILE, col_tiles = (g->N + FB_TILE - 1) / FB_TILE;
    LB_CHECKF(row_tiles <= INT32_MAX && col_tiles <= 65535,
              "gemm: fallback grid too large (M=%lld, N=%lld)", (long long)g->M, (long long)g->N);
    size_t csz = g->c_type == CUDA_R_32F ? 4 : 2;
    for (int64_t z0 = 0; z0 < g->batch; z0 += 65535) {
        int64_t nz = g->batch - z0 < 65535 ? g->batch - z0 : 65535;
        dim3 block(FB_TILE, FB_TILE), grid((unsigned)row_tiles, (unsigned)col_tiles, (unsigned)nz);
        const bf16 *a = g->a + z0 * g->stride_a, *b = g->b + z0 * g->stride_b;
        char *c = (char *)g->c + (size_t)(z0 * g->stride_c) * csz;
        if (g->c_type == CUDA_R_32F)
            gemm_fallback<float><<<grid, block, 0, s>>>(g->ta, g->tb, g->M, g->N, g->K, a, g->stride_a,
                                                        b, g->stride_b, (float *)c, g->stride_c,
                                                        g->beta, g->bias);
        else
            gemm_fallback<bf16><<<grid, block, 0, s>>>(g->ta, g->tb, g->M, g->N, g->K, a, g->stride_a,
                                                       b, g->stride_b, (bf16 *)c, g->stride_c,
                                                       g->beta, g->bias);
        LB_CUDA_LAUNCH_CHECK(ctx);
    }
}

/* bias_to_bf16: the bias as bf16 in step memory (the epilogue's bias for a
 * bf16 output). */
__global__ void f32_to_bf16_kernel(const float *__restrict__ x, bf16 *__restrict__ y, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) lb_st(y + i, x[i]);
}

static const void *bias_to_bf16(lb_ctx *ctx, const float *bias, int64_t n)
{
    bf16 *y = (bf16 *)lb_cuda_step_alloc(ctx, (size_t)n * sizeof(bf16));
    f32_to_bf16_kernel<<<(unsigned)((n + 255) / 256), 256, 0, lb_cuda_stream(ctx)>>>(bias, y, n);
    LB_CUDA_LAUNCH_CHECK(ctx);
    return y;
}

static void fill_key(gemm_key *k, const gemm_call *g, int32_t bias_type, const void *bias_ptr)
{
    memset(k, 0, sizeof *k);
    size_t csz = g->c_type == CUDA_R_32F ? 4 : 2;
    k->opa = g->tb ? CUBLAS_OP_T : CUBLAS_OP_N;          /* cuBLASLt's A is our b */
    k->opb = g->ta ? CUBLAS_OP_T : CUBLAS_OP_N;          /* cuBLASLt's B is our a */
    k->d_type = g->c_type;
    k->epilogue = g->bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    k->bias_type = g->bias ? bias_type : -1;
    k->m = g->N;
    k->n = g->M;
    k->k = g->K;
    k->lda = g->tb ? g->K : g->N;
    k->ldb = g->ta ? g->M : g->K;
    k->ldc = g->N;
    k->batch = g->batch;
    k->stride_a = g->batch > 1 ? g->stride_b : 0;
    k->stride_b = g->batch > 1 ? g->stride_a : 0;
    k->stride_c = g->batch > 1 ? g->stride_c : 0;
    k->align_a = alignment(g->b, k->stride_a * 2);
    k->align_b = alignment(g->a, k->stride_b * 2);
    k->align_c = alignment(g->c, k->stride_c * (int64_t)csz);
    /* a bf16 output reads a bf16 copy in step memory (256-byte aligned) */
    k->align_bias = !g->bias ? 0 : g->c_type == CUDA_R_32F ? alignment(bias_ptr, 0) : 256;
}

static void gemm_run(lb_ctx *ctx, const gemm_call *g)
{
    if (g->M == 0 || g->N == 0 || g->batch == 0) return;
    LB_CHECKF(g->batch <= INT32_MAX, "gemm: batch %lld exceeds cuBLASLt's int32 count", (long long)g->batch);
    lb_cuda_gemm_cache *cache = gemm_cache(ctx);
    if (g->K == 0 || cache->force_fallback) {
        run_fallback(ctx, g);
        return;
    }
    /* cuBLASLt takes the bias in D's type (cublasLt.h, BIAS_DATA_TYPE: the
     * exceptions are int8 and fp8 kernels): a bf16 output gets a bf16 copy
     * of the f32 bias, made here (the fallback kernel reads the f32) */
    gemm_key k;
    fill_key(&k, g, g->c_type, g->bias);
    gemm_plan *p = plan_get(ctx, &k);
    if (p->fallback) {
        run_fallback(ctx, g);
        return;
    }
    if (g->bias) {
        const void *bias = g->c_type == CUDA_R_32F ? (const void *)g->bias : bias_to_bf16(ctx, g->bias, g->N);
        LB_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                       &bias, sizeof bias));
    }
    lb_cuda_state *st = lb_cuda_state_of(ctx);
    float alpha = 1.0f, beta = g->beta;
    LB_CUBLAS_CHECK(cublasLtMatmul(st->lt, p->desc, &alpha, g->b, p->la, g->a, p->lb, &beta, g->c,
                                   p->lc, g->c, p->lc, &p->algo, st->lt_workspace,
                                   st->lt_workspace_size, lb_cuda_stream(ctx)));
}

/* ---- bias gradient ---------------------------------------------------------- */

#define CS_COLS 32
#define CS_ROWS 16

/* colsum_acc: db[j] += sum_i dy[i, j] over (M, N) bf16 dy (or = with
 * overwrite: db is not read), fp32 sums in a fixed order: thread (x, y) of a
 * block sums rows y, y + 16, ... of column j, then the block adds its 16
 * partial sums in row order. */
__global__ void colsum_acc_kernel(const bf16 *__restrict__ dy, float *__restrict__ db,
                                  int64_t M, int64_t N, bool overwrite)
{
    __shared__ float part[CS_ROWS][CS_COLS];
    int tx = threadIdx.x, ty = threadIdx.y;
    int64_t j = (int64_t)blockIdx.x * CS_COLS + tx;
    float s = 0.0f;
    if (j < N)
        for (int64_t i = ty; i < M; i += CS_ROWS) s += lb_ld(dy + i * N + j);
    part[ty][tx] = s;
    __syncthreads();
    if (ty == 0 && j < N) {
        float t = 0.0f;
        for (int r = 0; r < CS_ROWS; r++) t += part[r][tx];
        db[j] = (overwrite ? 0.0f : db[j]) + t;   /* overwrite: the bits of adding to 0 */
    }
}

/* ---- the kernels of kernels.h ---------------------------------------------- */

/* out_type: cuBLASLt's type for an output (or grad) of dtype t. */
static cudaDataType out_type(lb_dtype t)
{
    LB_CHECKF(t == LB_BF16 || t == LB_F32, "gemm: an output must be bf16 or f32, not %s", lb_dtype_name(t));
    return t == LB_F32 ? CUDA_R_32F : CUDA_R_16BF;
}

void lb_cuda_gemm_fwd(lb_ctx *ctx, bool ta, bool tb, int64_t batch, bool shared_b,
                      int64_t M, int64_t N, int64_t K, const void *a, const void *b, void *c,
                      lb_dtype c_type)
{
    gemm_call g = {ta, tb, M, N, K, batch, (const bf16 *)a, M * K, (const bf16 *)b,
                   shared_b ? 0 : K * N, c, out_type(c_type), M * N, 0.0f, NULL};
    if (shared_b && !ta) {   /* one product over all batch rows */
        g.M = batch * M;
        g.batch = 1;
    }
    gemm_run(ctx, &g);
}

/* With A' = op(a) (M, K) and B' = op(b) (K, N):
 *   dA' = dc @ B'^T, stored as da (M, K) = dc @ op(b)^T        when !ta
 *                              da (K, M) = B' @ dc^T           when ta
 *   dB' = A'^T @ dc, stored as db (K, N) = op(a)^T @ dc        when !tb
 *                              db (N, K) = dc^T @ A'           when tb
 * (the same four products as kernels/cpu/gemm.c), each with beta = 1. */
void lb_cuda_gemm_bwd(lb_ctx *ctx, bool ta, bool tb, int64_t batch, bool shared_b,
                      int64_t M, int64_t N, int64_t K, const void *a, const void *b,
                      const void *dc, void *da, lb_dtype da_type, void *db, lb_dtype db_type)
{
    const bf16 *A = (const bf16 *)a, *B = (const bf16 *)b, *DC = (const bf16 *)dc;
    int64_t sa = M * K, sb = shared_b ? 0 : K * N, sc = M * N;
    if (shared_b && !ta) {   /* fold the batch into the rows, as in the forward */
        M *= batch;
        batch = 1;
        sa = sc = 0;
    }
    if (da) {
        gemm_call g = !ta ? gemm_call{false, !tb, M, K, N, batch, DC, sc, B, sb, da, out_type(da_type), sa, 1.0f, NULL}
                          : gemm_call{tb, true, K, M, N, batch, B, sb, DC, sc, da, out_type(da_type), sa, 1.0f, NULL};
        gemm_run(ctx, &g);
    }
    if (db) {
        /* a shared B sums over the batch: one product per batch, in order,
         * each accumulating (a batched product would race on db) */
        int64_t nb = shared_b ? batch : 1, per = shared_b ? 1 : batch;
        for (int64_t z = 0; z < nb; z++) {
            const bf16 *Az = A + z * sa, *DCz = DC + z * sc;
            gemm_call g = !tb ? gemm_call{!ta, false, K, N, M, per, Az, sa, DCz, sc, db, out_type(db_type), sb, 1.0f, NULL}
                              : gemm_call{true, ta, N, K, M, per, DCz, sc, Az, sa, db, out_type(db_type), sb, 1.0f, NULL};
            gemm_run(ctx, &g);
        }
    }
}

void lb_cuda_linear_fwd(lb_ctx *ctx, const void *x, const void *w, const float *bias, void *y,
                        lb_dtype y_type, int64_t M, int64_t N, int64_t K)
{
    gemm_call g = {false, true, M, N, K, 1, (const bf16 *)x, 0, (const bf16 *)w, 0,
                   y, out_type(y_type), 0, 0.0f, bias};
    gemm_run(ctx, &g);
}

void lb_cuda_linear_bwd(lb_ctx *ctx, const void *x, const void *w, const void *dy,
                        void *dx, lb_dtype dx_type, bool dx_overwrite, void *dw, lb_dtype dw_type,
                        bool dw_overwrite, float *dbias, bool db_overwrite, int64_t M, int64_t N,
                        int64_t K)
{
    if (dx) {   /* dx (M, K) += dy (M, N) @ w (N, K); = with dx_overwrite */
        gemm_call g = {false, false, M, K, N, 1, (const bf16 *)dy, 0, (const bf16 *)w, 0,
                       dx, out_type(dx_type), 0, dx_overwrite ? 0.0f : 1.0f, NULL};
        gemm_run(ctx, &g);
    }
    if (dw) {   /* dw (N, K) += dy^T (N, M) @ x (M, K), straight into the (f32 master) grad;
                 * = with dw_overwrite */
        gemm_call g = {true, false, N, K, M, 1, (const bf16 *)dy, 0, (const bf16 *)x, 0,
                       dw, out_type(dw_type), 0, dw_overwrite ? 0.0f : 1.0f, NULL};
        gemm_run(ctx, &g);
    }
    if (dbias && M > 0 && N > 0) {
        dim3 grid((unsigned)((N + CS_COLS - 1) / CS_COLS)), block(CS_COLS, CS_ROWS);
        colsum_acc_kernel<<<grid, block, 0, lb_cuda_stream(ctx)>>>((const bf16 *)dy, dbias, M, N,
                                                                    db_overwrite);
        LB_CUDA_LAUNCH_CHECK(ctx);
    }
}
