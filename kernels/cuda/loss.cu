/* loss.cu — cross-entropy fused with log-softmax on CUDA, over the
 * vocabulary in chunks.
 *
 * logits (N, V) of dtype dt (bf16 in training; f32 works too), targets (N) i32 (negative = ignored). Rows
 * with V % 8 == 0 at 16-byte alignment are read (and dlogits written) 8 columns per access. No (N, V) fp32
 * buffer exists at any point: the forward reads each row once, in chunks of
 * LB_XENT_CHUNK columns (grid: rows x chunks, so a few rows of a 128K
 * vocabulary still fill the GPU); each chunk keeps an online (max, sum of
 * exp) pair, written to a (N, chunks) buffer, and one thread per row merges
 * the pairs in chunk order into rowmax, logsum and nll. The loss is the mean
 * NLL over counted rows, summed in double by a single block in a fixed
 * order, so the forward is deterministic; it stays on the device (no
 * synchronisation). The backward reads each row once more and writes
 * dlogits (logits' dtype) directly: OVERWRITES them when the grad is fresh
 * (the op knows), else ACCUMULATES.
 *
 * Not here: the target range check and the count (the op, on the host),
 * the CPU specification (kernels/cpu/loss.c).
 */
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/rowops.cuh"

#define LB_XENT_CHUNK 4096    /* vocabulary columns per block */
#define LB_XENT_THREADS 256

/* merge two online-softmax pairs (m, s): s is a sum of exp(x - m). */
static __device__ __forceinline__ void lse_merge(float &m, float &s, float m2, float s2)
{
    float mn = fmaxf(m, m2);
    if (mn == -INFINITY) return;   /* both empty */
    s = s * expf(m - mn) + s2 * expf(m2 - mn);
    m = mn;
}

/* VEC: 8 columns per 16-byte load (V % 8 == 0, aligned rows; chunks are
 * multiples of 8 wide), each pack's max taken first so a pack costs one
 * rescale at most; else one column at a time. */
template <typename T, bool VEC>
__global__ void xent_chunk_kernel(const T *logits, const int32_t *targets,
                                         float *pm, float *ps, int64_t V)
{
    __shared__ float shm[32], shs[32];
    int64_t row = blockIdx.x;
    int nch = gridDim.y, k = blockIdx.y;
    if (targets[row] < 0) return;
    const T *x = logits + row * V;
    int64_t c0 = (int64_t)k * LB_XENT_CHUNK;
    int64_t c1 = c0 + LB_XENT_CHUNK < V ? c0 + LB_XENT_CHUNK : V;
    float m = -INFINITY, s = 0.0f;
    if (VEC) {
        for (int64_t c = c0 + (int64_t)threadIdx.x * LB_PACK; c < c1; c += (int64_t)blockDim.x * LB_PACK) {
            float v[LB_PACK];
            lb_ld8(x + c, v);
            float pmax = v[0];
#pragma unroll
            for (int e = 1; e < LB_PACK; e++) pmax = fmaxf(pmax, v[e]);
            if (pmax > m) {
                s *= expf(m - pmax);   /* 0 while m is -inf */
                m = pmax;
            }
#pragma unroll
            for (int e = 0; e < LB_PACK; e++) s += expf(v[e] - m);
        }
    } else {
        for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x) {
            float v = lb_ld(x + c);
            if (v > m) {
                s = s * expf(m - v) + 1.0f;
                m = v;
            } else {
                s += expf(v - m);
            }
        }
    }
    /* block merge in a fixed order: butterfly in warps, then warp 0 */
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    if (lane == 0) {
        shm[wid] = m;
        shs[wid] = s;
    }
    __syncthreads();
    if (wid == 0) {
        int nw = blockDim.x >> 5;
        m = lane < nw ? shm[lane] : -INFINITY;
        s = lane < nw ? shs[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) {
            float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
            lse_merge(m, s, m2, s2);
        }
        if (lane == 0) {
            pm[row * nch + k] = m;
            ps[row * nch + k] = s;
        }
    }
}

/* One thread per row: merges the chunk pairs in chunk order. OVERWRITES
 * rowmax, logsum, nll (0 for ignored rows, as on the CPU). */
template <typename T>
__global__ void xent_row_kernel(const T *logits, const int32_t *targets,
                                       const float *pm, const float *ps, float *rowmax,
                                       float *logsum, float *nll, int64_t N, int64_t V, int nch)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    int32_t t = targets[i];
    if (t < 0) {
        rowmax[i] = logsum[i] = nll[i] = 0.0f;
        return;
    }
    float m = -INFINITY;
    for (int k = 0; k < nch; k++) m = fmaxf(m, pm[i * nch + k]);
    float s = 0.0f;
    for (int k = 0; k < nch; k++) s += ps[i * nch + k] * expf(pm[i * nch + k] - m);
    float ls = logf(s);
    rowmax[i] = m;
    logsum[i] = ls;
    nll[i] = (m - lb_ld(logits + i * V + t)) + ls;
}

/* One block: sum of nll over rows in double (fixed order), the loss
 * sum / count (0 when count is 0) into loss[0] (f32) and the sum into
 * *nll_sum (double). */
__global__ void xent_sum_kernel(const float *nll, int64_t N, int64_t count, float *loss,
                                       double *nll_sum)
{
    __shared__ double sh[LB_XENT_THREADS];
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += nll[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        loss[0] = count ? (float)(sh[0] / (double)count) : 0.0f;
        if (nll_sum) *nll_sum = sh[0];
    }
}

/* dlogits = g * (softmax - onehot) for counted rows with g = dloss / count;
 * ignored rows: 0 (overwrite) or untouched (accumulate). */
/* VEC as in xent_chunk_kernel. Each element is read and written by one
 * thread, so dlogits may be the logits themselves (in place). */
template <typename T, bool VEC>
__global__ void xent_bwd_kernel(const T *logits, const int32_t *targets,
                                       const float *rowmax, const float *logsum,
                                       const float *dloss, int64_t count, T *dlogits,
                                       int64_t V, bool accumulate)
{
    int64_t row = blockIdx.x;
    int32_t t = targets[row];
    int64_t c0 = (int64_t)blockIdx.y * LB_XENT_CHUNK;
    int64_t c1 = c0 + LB_XENT_CHUNK < V ? c0 + LB_XENT_CHUNK : V;
    T *dx = dlogits + row * V;
    if (t < 0 || count == 0) {
        if (!accumulate)
            for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x) lb_st(dx + c, 0.0f);
        return;
    }
    const T *x = logits + row * V;
    float g = dloss[0] / (float)count, mx = rowmax[row], ls = logsum[row];
    if (VEC) {
        for (int64_t c = c0 + (int64_t)threadIdx.x * LB_PACK; c < c1; c += (int64_t)blockDim.x * LB_PACK) {
            float v[LB_PACK], o[LB_PACK];
            lb_ld8(x + c, v);
            if (accumulate) lb_ld8(dx + c, o);
#pragma unroll
            for (int e = 0; e < LB_PACK; e++) {
                float d = g * expf((v[e] - mx) - ls);
                if (c + e == t) d -= g;
                o[e] = accumulate ? o[e] + d : d;
            }
            lb_st8(dx + c, o);
        }
    } else {
        for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x) {
            float d = g * expf((lb_ld(x + c) - mx) - ls);
            if (c == t) d -= g;
            if (accumulate) lb_acc(dx + c, d);
            else lb_st(dx + c, d);
        }
    }
}

static int xent_chunks(int64_t V) { return (int)((V + LB_XENT_CHUNK - 1) / LB_XENT_CHUNK); }

void lb_cuda_cross_entropy_fwd(lb_ctx *ctx, const void *logits, const int32_t *targets,
                               float *rowmax, float *logsum, float *nll, int64_t count,
                               float *loss, double *nll_sum, int64_t N, int64_t V, lb_dtype dt)
{
    cudaStream_t s = lb_cuda_stream(ctx);
    if (N > 0 && V > 0) {
        int nch = xent_chunks(V);
        size_t pbytes = (size_t)N * nch * sizeof(float);
        float *pm = (float *)lb_cuda_tmp_alloc(ctx, pbytes);   // (N, nch)
        float *ps = (float *)lb_cuda_tmp_alloc(ctx, pbytes);   // (N, nch)
        bool vec = V % LB_PACK == 0 && lb_aligned16(logits);
        LB_DISPATCH_FLOAT(dt, T,
            if (vec)
                xent_chunk_kernel<T, true><<<dim3((unsigned)N, (unsigned)nch), LB_XENT_THREADS, 0, s>>>(
                    (const T *)logits, targets, pm, ps, V);
            else
                xent_chunk_kernel<T, false><<<dim3((unsigned)N, (unsigned)nch), LB_XENT_THREADS, 0, s>>>(
                    (const T *)logits, targets, pm, ps, V);
            LB_CUDA_LAUNCH_CHECK(ctx);
            xent_row_kernel<T><<<(unsigned)((N + 127) / 128), 128, 0, s>>>(
                (const T *)logits, targets, pm, ps, rowmax, logsum, nll, N, V, nch));
        LB_CUDA_LAUNCH_CHECK(ctx);
        lb_cuda_tmp_free(ctx, pm);
        lb_cuda_tmp_free(ctx, ps);
    }
    xent_sum_kernel<<<1, LB_XENT_THREADS, 0, s>>>(nll, N, count, loss, nll_sum);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_cross_entropy_bwd(lb_ctx *ctx, const void *logits, const int32_t *targets,
                               const float *rowmax, const float *logsum, const float *dloss,
                               int64_t count, void *dlogits, int64_t N, int64_t V, bool accumulate,
                               lb_dtype dt)
{
    if (N == 0 || V == 0 || !dlogits) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    dim3 grid((unsigned)N, (unsigned)xent_chunks(V));
    bool vec = V % LB_PACK == 0 && lb_aligned16(logits) && lb_aligned16(dlogits);
    LB_DISPATCH_FLOAT(dt, T,
        if (vec)
            xent_bwd_kernel<T, true><<<grid, LB_XENT_THREADS, 0, s>>>(
                (const T *)logits, targets, rowmax, logsum, dloss, count, (T *)dlogits, V, accumulate);
        else
            xent_bwd_kernel<T, false><<<grid, LB_XENT_THREADS, 0, s>>>(
                (const T *)logits, targets, rowmax, logsum, dloss, count, (T *)dlogits, V, accumulate));
    LB_CUDA_LAUNCH_CHECK(ctx);
}
