/* rope.cu — rotary position embedding on CUDA, HF rotate-half layout,
 * forward and backward.
 *
 * x, out, dout, dx have the activation dtype dt (B, T, H, hd); inv_freq
 * (hd/2) is f32 on the device. One thread per rotated pair, with the CPU
 * path's formula (kernels/cpu/rope.c): theta = (float)p * inv_freq[j] in
 * fp32, then cosf/sinf (the precise functions: no fast-math intrinsics).
 * The backward rotates by -theta. Not here: computing inv_freq
 * (layers/rope.c).
 */
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/rowops.cuh"

/* sign +1: out = rotate(x, theta), OVERWRITES; sign -1 with acc: out +=
 * rotate(x, -theta), ACCUMULATES. */
template <typename T>
__global__ void rope_kernel(const T *x, T *out, const float *inv_freq, int64_t npairs, int64_t T_,
                            int64_t H, int64_t half, int64_t pos0, float sign, bool acc)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < npairs;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = e % half, row = e / half;   /* row = (b * T + t) * H + h */
        int64_t t = (row / H) % T_;
        float theta = (float)(pos0 + t) * inv_freq[j];
        float c = cosf(theta), s = sign * sinf(theta);
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

static void rope_launch(lb_ctx *ctx, const void *x, void *out, const float *inv_freq, int64_t B,
                        int64_t T_, int64_t H, int64_t hd, int64_t pos0, float sign, bool acc,
                        lb_dtype dt)
{
    int64_t half = hd / 2, npairs = B * T_ * H * half;
    if (npairs == 0) return;
    cudaStream_t s = lb_cuda_stream(ctx);
    unsigned grid = lb_cuda_grid(ctx, npairs, LB_CUDA_THREADS);
    LB_DISPATCH_FLOAT(dt, T,
        rope_kernel<T><<<grid, LB_CUDA_THREADS, 0, s>>>((const T *)x, (T *)out, inv_freq, npairs,
                                                        T_, H, half, pos0, sign, acc));
    LB_CUDA_LAUNCH_CHECK(ctx);
}

void lb_cuda_rope_fwd(lb_ctx *ctx, const void *x, void *out, const float *inv_freq, int64_t B,
                      int64_t T, int64_t H, int64_t hd, int64_t pos0, lb_dtype dt)
{
    rope_launch(ctx, x, out, inv_freq, B, T, H, hd, pos0, 1.0f, false, dt);
}

void lb_cuda_rope_bwd(lb_ctx *ctx, const void *dout, void *dx, const float *inv_freq, int64_t B,
                      int64_t T, int64_t H, int64_t hd, int64_t pos0, lb_dtype dt)
{
    if (dx) rope_launch(ctx, dout, dx, inv_freq, B, T, H, hd, pos0, -1.0f, true, dt);
}
