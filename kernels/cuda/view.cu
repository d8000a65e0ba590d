/* view.cu — the copying views on CUDA: transpose (any two of up to 4 dims),
 * slice and concat, forward and backward, plus reshape's backward
 * (dx += dout), for bf16 and f32 tensors.
 *
 * Forward kernels OVERWRITE their output, backward kernels ACCUMULATE into
 * the input grads (bf16 grads: fp32 add, then one rounding). One thread per
 * destination element, grid-stride; writes are coalesced, transposes read
 * strided. Not here: strided views (every tensor stays contiguous), the
 * CPU specification (kernels/cpu/view.c).
 */
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/rowops.cuh"

typedef struct shape4 {
    int64_t d[4];
} shape4;

/* dst (dshape) [o] (=|+=) src [sum_k o_k * sstride[k]]: sstride gives, for
 * each dim of dst, the stride of the matching dim in src. */
template <typename T>
__global__ void gather4_kernel(const T *src, T *dst, shape4 dshape, shape4 sstride,
                                      int64_t n, bool acc)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = e, off = 0;
        for (int k = 3; k >= 0; k--) {
            off += (r % dshape.d[k]) * sstride.d[k];
            r /= dshape.d[k];
        }
        if (acc) lb_acc(dst + e, lb_ld(src + off));
        else dst[e] = src[off];
    }
}

/* for o < outer, i < len * inner: dst[(o * dD + dstart) * inner + i]
 * (=|+=) src[(o * sD + sstart) * inner + i]. */
template <typename T>
__global__ void block_copy_kernel(const T *src, int64_t sD, int64_t sstart, T *dst,
                                         int64_t dD, int64_t dstart, int64_t outer, int64_t len,
                                         int64_t inner, bool acc)
{
    int64_t m = len * inner, n = outer * m;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = e / m, i = e % m;
        int64_t so = (o * sD + sstart) * inner + i, d = (o * dD + dstart) * inner + i;
        if (acc) lb_acc(dst + d, lb_ld(src + so));
        else dst[d] = src[so];
    }
}

/* transpose: x has shape `xs`; out = x with d0, d1 swapped (acc false), or
 * x is dout of shape `xs` and out += its transpose (acc true). */
static void transpose_launch(lb_ctx *ctx, const void *x, void *out,
                             const int64_t xs[4], int d0, int d1, bool acc, lb_dtype dt)
{
    shape4 ds, st;
    int64_t xstride[4];
    xstride[3] = 1;
    for (int k = 2; k >= 0; k--) xstride[k] = xstride[k + 1] * xs[k + 1];
    for (int k = 0; k < 4; k++) {
        ds.d[k] = xs[k];
        st.d[k] = xstride[k];
    }
    ds.d[d0] = xs[d1];
    ds.d[d1] = xs[d0];
    st.d[d0] = xstride[d1];
    st.d[d1] = xstride[d0];
    int64_t n = xs[0] * xs[1] * xs[2] * xs[3];
    if (n == 0) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    unsigned grid = lb_cuda_grid(ctx, n, LB_CUDA_THREADS);
    LB_DISPATCH_FLOAT(dt, T,
        gather4_kernel<T><<<grid, LB_CUDA_THREADS, 0, s>>>((const T *)x, (T *)out, ds, st, n, acc));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

static void block_copy(lb_ctx *ctx, const void *src, int64_t sD, int64_t sstart,
                       void *dst, int64_t dD, int64_t dstart, int64_t outer, int64_t len,
                       int64_t inner, bool acc, lb_dtype dt)
{
    int64_t n = outer * len * inner;
    if (n == 0) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    unsigned grid = lb_cuda_grid(ctx, n, LB_CUDA_THREADS);
    LB_DISPATCH_FLOAT(dt, T,
        block_copy_kernel<T><<<grid, LB_CUDA_THREADS, 0, s>>>((const T *)src, sD, sstart, (T *)dst,
                                                              dD, dstart, outer, len, inner, acc));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_transpose_fwd(lb_ctx *ctx, const void *x, void *out,
                                      const int64_t shape[4], int d0, int d1, lb_dtype dt)
{
    transpose_launch(ctx, x, out, shape, d0, d1, false, dt);
}

void lb_cuda_transpose_bwd(lb_ctx *ctx, const void *dout, void *dx,
                                      const int64_t shape[4], int d0, int d1, lb_dtype dt)
{
    if (!dx) return;
    int64_t os[4] = {shape[0], shape[1], shape[2], shape[3]};   /* dout's shape */
    os[d0] = shape[d1];
    os[d1] = shape[d0];
    transpose_launch(ctx, dout, dx, os, d0, d1, true, dt);
}

void lb_cuda_slice_fwd(lb_ctx *ctx, const void *x, void *out,
                                  int64_t outer, int64_t D, int64_t inner, int64_t start,
                                  int64_t len, lb_dtype dt)
{
    block_copy(ctx, x, D, start, out, len, 0, outer, len, inner, false, dt);
}

void lb_cuda_slice_bwd(lb_ctx *ctx, const void *dout, void *dx,
                                  int64_t outer, int64_t D, int64_t inner, int64_t start,
                                  int64_t len, lb_dtype dt)
{
    if (dx) block_copy(ctx, dout, len, 0, dx, D, start, outer, len, inner, true, dt);
}

void lb_cuda_concat_fwd(lb_ctx *ctx, const void *a, const void *b,
                                   void *out, int64_t outer, int64_t Da, int64_t Db, int64_t inner, lb_dtype dt)
{
    block_copy(ctx, a, Da, 0, out, Da + Db, 0, outer, Da, inner, false, dt);
    block_copy(ctx, b, Db, 0, out, Da + Db, Da, outer, Db, inner, false, dt);
}

void lb_cuda_concat_bwd(lb_ctx *ctx, const void *dout, void *da, void *db,
                                   int64_t outer, int64_t Da, int64_t Db, int64_t inner, lb_dtype dt)
{
    if (da) block_copy(ctx, dout, Da + Db, 0, da, Da, 0, outer, Da, inner, true, dt);
    if (db) block_copy(ctx, dout, Da + Db, Da, db, Db, 0, outer, Db, inner, true, dt);
}

void lb_cuda_reshape_bwd(lb_ctx *ctx, const void *dout, void *dx,
                                    int64_t n, lb_dtype dt)
{
    if (dx) block_copy(ctx, dout, 1, 0, dx, 1, 0, 1, n, 1, true, dt);
}
