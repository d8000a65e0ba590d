/* rope.cu — rotary position embedding on CUDA, HF rotate-half layout,
 * forward and backward.
 *
 * x, out, dout, dx have the activation dtype dt (B, T, H, hd); inv_freq
 * (hd/2) is f32 on the device. The angles follow the CPU path's formula
 * (kernels/cpu/rope.c): theta = (float)p * inv_freq[j] in fp32, then
 * cosf/sinf (the precise functions: no fast-math intrinsics). They are
 * computed once per call into a (T, hd/2) cos and sin table (lb_cuda_rope_
 * table, T * hd/2 angles instead of one per element of every head and
 * batch row); the rotation then reads the table, 8 pairs per thread with
 * 16-byte accesses when hd/2 is a multiple of 8 and the rows are aligned
 * (else one pair per thread). The backward rotates by -theta and may
 * OVERWRITE dx (a new grad). Not here: computing inv_freq (layers/rope.c).
 */
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/rowops.cuh"

/* cs (2, T, half): cs[t][j] = cosf(theta), cs[T + t][j] = sinf(theta),
 * theta = (float)(pos0 + t) * inv_freq[j]. */
__global__ void rope_table_kernel(const float *inv_freq, float *cs, int64_t T_, int64_t half,
                                  int64_t pos0)
{
    int64_t n = T_ * half;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t t = e / half, j = e % half;
        float theta = (float)(pos0 + t) * inv_freq[j];
        cs[e] = cosf(theta);
        cs[n + e] = sinf(theta);
    }
}

/* sign +1: out = rotate(x, theta), OVERWRITES; sign -1: out (+)= rotate(x,
 * -theta), ACCUMULATES with acc. One pair per thread. */
template <typename T>
__global__ void rope_kernel(const T *x, T *out, const float *cs, int64_t npairs, int64_t T_,
                            int64_t H, int64_t half, float sign, bool acc)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < npairs;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = e % half, row = e / half;   /* row = (b * T + t) * H + h */
        int64_t t = (row / H) % T_;
        float c = cs[t * half + j], s = sign * cs[(T_ + t) * half + j];
        int64_t i1 = row * 2 * half + j, i2 = i1 + half;
        float x1 = lb_ld(x + i1), x2 = lb_ld(x + i2);
        float y1 = x1 * c - x2 * s;
        float y2 = x2 * c + x1 * s;
        if (acc) {
            lb_acc(out + i1, y1);
            lb_acc(out + i2, y2);
        } else {
            lb_st(out + i1, y1);
            lb_st(out + i2, y2);
        }
    }
}

/* rope_kernel with 8 pairs per thread (half % 8 == 0, rows 16-byte
 * aligned): unit e covers pairs j0 .. j0 + 7 of one (b, t, h) row. */
template <typename T>
__global__ void rope_vec_kernel(const T *x, T *out, const float *cs, int64_t nunits, int64_t T_,
                                int64_t H, int64_t half, float sign, bool acc)
{
    int64_t upr = half / LB_PACK;   /* units per row */
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < nunits;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t j0 = (e % upr) * LB_PACK, row = e / upr;
        int64_t t = (row / H) % T_;
        float c[LB_PACK], s[LB_PACK], x1[LB_PACK], x2[LB_PACK], y1[LB_PACK], y2[LB_PACK];
        lb_ld8(cs + t * half + j0, c);
        lb_ld8(cs + (T_ + t) * half + j0, s);
        int64_t i1 = row * 2 * half + j0, i2 = i1 + half;
        lb_ld8(x + i1, x1);
        lb_ld8(x + i2, x2);
#pragma unroll
        for (int k = 0; k < LB_PACK; k++) {
            float sk = sign * s[k];
            y1[k] = x1[k] * c[k] - x2[k] * sk;
            y2[k] = x2[k] * c[k] + x1[k] * sk;
        }
        if (acc) {
            float o1[LB_PACK], o2[LB_PACK];
            lb_ld8(out + i1, o1);
            lb_ld8(out + i2, o2);
#pragma unroll
            for (int k = 0; k < LB_PACK; k++) {
                y1[k] += o1[k];
                y2[k] += o2[k];
            }
        }
        lb_st8(out + i1, y1);
        lb_st8(out + i2, y2);
    }
}

static void rope_launch(lb_ctx *ctx, const void *x, void *out, const float *cs, int64_t B,
                        int64_t T_, int64_t H, int64_t hd, float sign, bool acc, lb_dtype dt)
{
    int64_t half = hd / 2, npairs = B * T_ * H * half;
    if (npairs == 0) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    if (half % LB_PACK == 0 && lb_aligned16(x) && lb_aligned16(out) && lb_aligned16(cs)) {
        int64_t nunits = npairs / LB_PACK;
        unsigned grid = lb_cuda_grid(ctx, nunits, LB_CUDA_THREADS);
        LB_DISPATCH_FLOAT(dt, T,
            rope_vec_kernel<T><<<grid, LB_CUDA_THREADS, 0, s>>>((const T *)x, (T *)out, cs, nunits,
                                                                T_, H, half, sign, acc));
    } else {
        unsigned grid = lb_cuda_grid(ctx, npairs, LB_CUDA_THREADS);
        LB_DISPATCH_FLOAT(dt, T,
            rope_kernel<T><<<grid, LB_CUDA_THREADS, 0, s>>>((const T *)x, (T *)out, cs, npairs,
                                                            T_, H, half, sign, acc));
    }
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_rope_table(lb_ctx *ctx, const float *inv_freq, float *cs, int64_t T, int64_t hd,
                        int64_t pos0)
{
    int64_t n = T * (hd / 2);
    if (n == 0) return;
    unsigned grid = lb_cuda_grid(ctx, n, LB_CUDA_THREADS);
    rope_table_kernel<<<grid, LB_CUDA_THREADS, 0, lb_cuda_stream(ctx)>>>(inv_freq, cs, T, hd / 2,
                                                                          pos0);
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_rope_fwd(lb_ctx *ctx, const void *x, void *out, const float *cs, int64_t B,
                      int64_t T, int64_t H, int64_t hd, lb_dtype dt)
{
    rope_launch(ctx, x, out, cs, B, T, H, hd, 1.0f, false, dt);
}

void lb_cuda_rope_bwd(lb_ctx *ctx, const void *dout, void *dx, bool overwrite, const float *cs,
                      int64_t B, int64_t T, int64_t H, int64_t hd, lb_dtype dt)
{
    if (dx) rope_launch(ctx, dout, dx, cs, B, T, H, hd, -1.0f, !overwrite, dt);
}
