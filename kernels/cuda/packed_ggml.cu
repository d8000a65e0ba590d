/* packed_ggml.cu — decoding ggml-packed weights on the GPU (see
 * packed_ggml_k.h; the specification is quant/packed_ggml.c through
 * quant/ggml_pack.c's dequantize_row_*).
 *
 * One thread per output element, consecutive threads along a row: output
 * writes coalesce and the threads of a warp share a block's header bytes.
 * Each value is formed with the CPU's operations in the CPU's order:
 *   q4_0 q5_0 q8_0  (q - z) * d                one rounding
 *   q4_1 q5_1       q * d + m                  two (no FMA: __fadd_rn)
 *   q4_k            (d*sc) * q - (dmin*mn)     as ggml: d1 * q - m1
 *   q6_k            (d*sc) * (q - 32)          as ggml: d * sc * q
 * bf16 output rounds the f32 value once (__float2bfloat16_rn).
 * Not here: a fused low-bit GEMM (a later issue).
 */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/packed_ggml_k.h"

__device__ __forceinline__ float h2f(const uint8_t *p)
{
    __half_raw r;
    r.x = (unsigned short)(p[0] | p[1] << 8);
    return __half2float(__half(r));
}

__device__ __forceinline__ float bf2f(const uint8_t *p)
{
    return __uint_as_float((unsigned)(p[0] | p[1] << 8) << 16);
}

/* value e of one row (row bytes at b) of ggml type `type` */
__device__ float ggml_value(int type, const uint8_t *b, int64_t e)
{
    switch (type) {
    case 0: {
        float v;
        memcpy(&v, b + 4 * e, 4);
        return v;
    }
    case 1: return h2f(b + 2 * e);
    case 30: return bf2f(b + 2 * e);
    case 8: { /* q8_0: d, qs[32] int8 */
        const uint8_t *blk = b + (e / 32) * 34;
        return __fmul_rn((float)(int8_t)blk[2 + e % 32], h2f(blk));
    }
    case 2: case 3: case 6: case 7: {
        const int bytes = type == 2 ? 18 : type == 3 ? 20 : type == 6 ? 22 : 24;
        const bool has_min = type == 3 || type == 7, five = type == 6 || type == 7;
        const uint8_t *blk = b + (e / 32) * bytes;
        const int j = (int)(e % 32);
        const float d = h2f(blk);
        const uint8_t *p = blk + 2;
        float m = 0.0f;
        if (has_min) m = h2f(p), p += 2;
        uint32_t qh = 0;
        if (five) qh = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24, p += 4;
        int q = j < 16 ? (p[j] & 15) : (p[j - 16] >> 4);
        if (five) q |= (int)((qh >> j) & 1) << 4;
        if (has_min) return __fadd_rn(__fmul_rn((float)q, d), m);
        const int off = five ? 16 : 8;
        return __fmul_rn((float)(q - off), d);
    }
    case 12: { /* q4_k: d, dmin, scales[12], qs[128] */
        const uint8_t *blk = b + (e / 256) * 144;
        const int i = (int)(e % 256), c = i / 64, hi = (i % 64) >= 32, l = i % 32;
        const int s = 2 * c + hi;
        const uint8_t *sc12 = blk + 4;
        int sc, mn;
        if (s < 4) {
            sc = sc12[s] & 63;
            mn = sc12[s + 4] & 63;
        } else {
            sc = (sc12[s + 4] & 0x0F) | ((sc12[s - 4] >> 6) << 4);
            mn = (sc12[s + 4] >> 4) | ((sc12[s] >> 6) << 4);
        }
        const uint8_t qb = blk[16 + 32 * c + l];
        const int q = hi ? qb >> 4 : qb & 0xF;
        const float d1 = __fmul_rn(h2f(blk), (float)sc), m1 = __fmul_rn(h2f(blk + 2), (float)mn);
        return __fsub_rn(__fmul_rn(d1, (float)q), m1);
    }
    case 14: { /* q6_k: ql[128], qh[64], scales[16] int8, d */
        const uint8_t *blk = b + (e / 256) * 210;
        const int i = (int)(e % 256), h = i / 128, k = i % 128, quarter = k / 32, l = k % 32;
        const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
        const int8_t *sc = (const int8_t *)(blk + 192 + 8 * h);
        const int lo = quarter & 1 ? ql[l + 32] : ql[l];
        const int nib = quarter >= 2 ? lo >> 4 : lo & 0xF;
        const int q = (nib | ((qh[l] >> (2 * quarter)) & 3) << 4) - 32;
        const int is = l / 16 + 2 * quarter;
        return __fmul_rn(__fmul_rn(h2f(blk + 208), (float)sc[is]), (float)q);
    }
    default: return 0.0f; /* the host checks the type */
    }
}

template <typename T>
__global__ void ggml_decode_kernel(int type, const uint8_t *data, int64_t row_bytes, int64_t cols, int64_t r0,
                                   int64_t n, const int32_t *idx, T *out)
{
    const int64_t total = n * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t rr = i / cols, e = i % cols;
        const int64_t r = idx ? (int64_t)idx[rr] : r0 + rr;
        lb_st(out + i, ggml_value(type, data + r * row_bytes, e));
    }
}

void lb_cuda_packed_ggml_decode(lb_ctx *ctx, int type, const void *data, int64_t row_bytes, int64_t cols,
                                int64_t r0, int64_t n, const int32_t *idx, void *out, lb_dtype dt)
{
    if (n <= 0 || cols <= 0) return;
    unsigned grid = lb_cuda_grid(ctx, n * cols, LB_CUDA_THREADS);
    cudaStream_t stream = lb_cuda_stream(ctx);
    LB_DISPATCH_FLOAT(dt, T,
        ggml_decode_kernel<T><<<grid, LB_CUDA_THREADS, 0, stream>>>(type, (const uint8_t *)data, row_bytes, cols, r0,
                                                                    n, idx, (T *)out));
    LB_CUDA_LAUNCH_CHECK(ctx);
}
