/* embedding.cu — token embedding lookup on CUDA and the grad of the table.
 *
 * table (V, C) is the f32 master parameter, read directly (a lookup touches
 * n rows, not the table), or a bf16 table (a fake-quant w^ of the token
 * embedding: its values are copied, bf16 to bf16, so out = bf16(w^) as
 * exactly as an f32 row is rounded); out and dout have the activation dtype
 * dt (n, C) (bf16 in training); dtable is f32 (V, C) either way (a bf16
 * table's grad is f32: LB_TENSOR_GRAD_F32, checked by the op). ids (n) i32 on the device, in range (the op checks).
 *
 * Backward, deterministic (the default, lb_cuda_embedding_bwd): block
 * (s, k) owns columns [s * 128, s * 128 + 128) of every table row whose id
 * is k modulo the number of buckets. It scans the ids in tiles of 128,
 * compacts the tokens of its bucket in index order (warp ballots), and each
 * thread adds those tokens' values into its column in that order. Each
 * table element is therefore summed by one thread, in token order, in fp32:
 * the same additions in the same order as the CPU kernel, so the result is
 * bit-identical run after run and equal to the CPU's on the same bf16
 * dout. The price against atomics is the scan: every block reads all n ids
 * (from L2). lb_cuda_embedding_bwd_atomic is the atomicAdd version, kept for
 * measuring that price; its sums' order varies between runs (the one
 * exception to kernels.h's determinism rule, used by no op).
 *
 * Not here: the id checks (the op), tied heads (layers/).
 */
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/rowops.cuh"

#define LB_EMB_COLS 128          /* columns per block = threads per block */
#define LB_EMB_TARGET_BLOCKS 1056   /* 8 per SM of an H100 (132 SMs) */

template <typename TT, typename T>
__global__ void embedding_fwd_kernel(const TT *table, const int32_t *ids, T *out, int64_t n,
                                     int64_t C)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n * C;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = e / C, c = e % C;
        lb_st(out + e, lb_ld(table + (int64_t)ids[i] * C + c));
    }
}

template <typename T>
__global__ void embedding_bwd_det_kernel(const int32_t *ids, const T *dout, float *dtable,
                                         int64_t n, int64_t C)
{
    __shared__ int32_t tok[LB_EMB_COLS];
    __shared__ int wcount[LB_EMB_COLS / 32];
    int nb = gridDim.y, bucket = blockIdx.y;
    int64_t c = (int64_t)blockIdx.x * LB_EMB_COLS + threadIdx.x;
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    for (int64_t t0 = 0; t0 < n; t0 += LB_EMB_COLS) {
        int64_t i = t0 + threadIdx.x;
        bool mine = i < n && ids[i] % nb == bucket;
        unsigned ballot = __ballot_sync(0xffffffffu, mine);
        if (lane == 0) wcount[wid] = __popc(ballot);
        __syncthreads();
        int off = 0, total = 0;
        for (int w = 0; w < LB_EMB_COLS / 32; w++) {
            off += w < wid ? wcount[w] : 0;
            total += wcount[w];
        }
        if (mine) tok[off + __popc(ballot & ((1u << lane) - 1u))] = (int32_t)(i - t0);
        __syncthreads();
        if (c < C) {
            for (int k = 0; k < total; k++) {
                int64_t ti = t0 + tok[k];
                dtable[(int64_t)ids[ti] * C + c] += lb_ld(dout + ti * C + c);
            }
        }
        __syncthreads();
    }
}

template <typename T>
__global__ void embedding_bwd_atomic_kernel(const int32_t *ids, const T *dout, float *dtable,
                                            int64_t n, int64_t C)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n * C;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = e / C, c = e % C;
        atomicAdd(dtable + (int64_t)ids[i] * C + c, lb_ld(dout + e));
    }
}

void lb_cuda_embedding_fwd(lb_ctx *ctx, const void *table, lb_dtype table_dt, const int32_t *ids,
                           void *out, int64_t n, int64_t C, lb_dtype dt)
{
    if (n == 0 || C == 0) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    unsigned grid = lb_cuda_grid(ctx, n * C, LB_CUDA_THREADS);
    LB_DISPATCH_FLOAT(table_dt, TT, LB_DISPATCH_FLOAT(dt, T,
        embedding_fwd_kernel<TT, T><<<grid, LB_CUDA_THREADS, 0, s>>>((const TT *)table, ids,
                                                                      (T *)out, n, C)));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_embedding_bwd(lb_ctx *ctx, const int32_t *ids, const void *dout, float *dtable,
                           int64_t n, int64_t C, lb_dtype dt)
{
    if (n == 0 || C == 0 || !dtable) return;
    int64_t slices = (C + LB_EMB_COLS - 1) / LB_EMB_COLS;
    int64_t nb = (LB_EMB_TARGET_BLOCKS + slices - 1) / slices;
    if (nb > 1024) nb = 1024;
    cudaStream_t s = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        embedding_bwd_det_kernel<T><<<dim3((unsigned)slices, (unsigned)nb), LB_EMB_COLS, 0, s>>>(
            ids, (const T *)dout, dtable, n, C));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_embedding_bwd_atomic(lb_ctx *ctx, const int32_t *ids, const void *dout, float *dtable,
                                  int64_t n, int64_t C, lb_dtype dt)
{
    if (n == 0 || C == 0 || !dtable) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    unsigned grid = lb_cuda_grid(ctx, n * C, LB_CUDA_THREADS);
    LB_DISPATCH_FLOAT(dt, T,
        embedding_bwd_atomic_kernel<T><<<grid, LB_CUDA_THREADS, 0, s>>>(ids, (const T *)dout,
                                                                         dtable, n, C));
    LB_CUDA_LAUNCH_CHECK(ctx);
}
