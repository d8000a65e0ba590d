/* packed_gptq.c — the CPU decoder of LB_PACKED_GPTQ weights (quant/packed.h,
 * FORMATS.md §3.6): the specification the CUDA decoder
 * (kernels/cuda/packed_gptq.cu) matches bit for bit.
 *
 *   w[r][k] = f32(scales[g][r]) * (q[k][r] - ((zfield[g][r] + zero_offset) & (2^b - 1))),
 *   g = g_idx[k] (or k / group_size)
 *
 * q - z is an exact integer and the product is one f32 rounding: for a
 * lowbit export this is the forward's w^ = s * (q - z) exactly. The mask is
 * the exllama kernels' `(zeros + 1) & maxq`. Not here: the dispatch by kind
 * and step memory (quant/packed.c), reading the files (gptq_read.c).
 */
#include "autograd/tensor.h"
#include "kernels/cuda/packed_gptq_k.h"
#include "quant/gptq.h"

void lb_packed_gptq_decode(const lb_packed *p, int64_t r0, int64_t n, float *out)
{
    LB_CHECK(p->kind == LB_PACKED_GPTQ && p->qweight->device == LB_CPU);
    LB_CHECK(r0 >= 0 && n >= 0 && r0 + n <= p->rows);
    const int64_t N = p->rows, K = p->cols;
    const int64_t gs = p->group_size > 0 ? p->group_size : K;
    const int bits = p->bits;
    const uint32_t mask = (1u << bits) - 1u;
    const int64_t zw = N * bits / 32;   /* words per qzeros row */
    const int32_t *qw = (const int32_t *)p->qweight->data;
    const int32_t *qz = (const int32_t *)p->qzeros->data;
    const uint16_t *sc = (const uint16_t *)p->scales->data;
    const int32_t *gi = p->g_idx ? (const int32_t *)p->g_idx->data : NULL;
    #pragma omp parallel for schedule(static) if (n * K >= 65536)
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = r0 + i;
        float *o = out + i * K;
        for (int64_t k = 0; k < K; k++) {
            const int64_t g = gi ? gi[k] : k / gs;
            const int q = (int)lb_gptq_field(qw + r, N, k, bits);
            const int z = (int)((lb_gptq_field(qz + g * zw, 1, r, bits) + (uint32_t)p->zero_offset) & mask);
            float s;
            lb_convert_to_f32(&s, &sc[g * N + r], LB_F16, 1);
            o[k] = s * (float)(q - z);
        }
    }
}

void lb_packed_gptq_decode_cuda(lb_ctx *ctx, const lb_packed *p, int64_t r0, int64_t n, void *out, lb_dtype dt)
{
    LB_CHECK(p->kind == LB_PACKED_GPTQ && p->qweight->device == LB_CUDA);
    LB_CHECK(r0 >= 0 && n >= 0 && r0 + n <= p->rows);
    lb_cuda_packed_gptq_decode(ctx, (const int32_t *)p->qweight->data, (const int32_t *)p->qzeros->data,
                               (const uint16_t *)p->scales->data,
                               p->g_idx ? (const int32_t *)p->g_idx->data : NULL, p->rows, p->cols, p->bits,
                               p->group_size, p->zero_offset, r0, n, out, dt);
}
