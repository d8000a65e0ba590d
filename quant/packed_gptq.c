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
#include <stdlib.h>

#include "autograd/tensor.h"
#include "kernels/cuda/packed_gptq_k.h"
#include "quant/gptq.h"

/* decode_row: one row r of the weight into o[0..K), its groups' scales and
 * true zeros already in sg / zg. 2/4/8 bits without g_idx walk whole words;
 * the general path (3 bits, act-order) extracts each field. */
static void decode_row(const lb_packed *p, int64_t r, const float *sg, const int32_t *zg, float *o)
{
    const int64_t N = p->rows, K = p->cols;
    const int64_t gs = p->group_size > 0 ? p->group_size : K;
    const int bits = p->bits;
    const uint32_t mask = (1u << bits) - 1u;
    const int32_t *qw = (const int32_t *)p->qweight->data;
    const int32_t *gi = p->g_idx ? (const int32_t *)p->g_idx->data : NULL;
    if (!gi && 32 % bits == 0) {
        const int f = 32 / bits;
        for (int64_t w = 0; w < K / f; w++) {
            const uint32_t word = (uint32_t)qw[w * N + r];
            for (int t = 0; t < f; t++) {
                const int64_t k = w * f + t, g = k / gs;
                o[k] = sg[g] * (float)((int32_t)((word >> (t * bits)) & mask) - zg[g]);
            }
        }
        return;
    }
    for (int64_t k = 0; k < K; k++) {
        const int64_t g = gi ? gi[k] : k / gs;
        o[k] = sg[g] * (float)((int32_t)lb_gptq_field(qw + r, N, k, bits) - zg[g]);
    }
}

void lb_packed_gptq_decode(const lb_packed *p, int64_t r0, int64_t n, float *out)
{
    LB_CHECK(p->kind == LB_PACKED_GPTQ && p->qweight->device == LB_CPU);
    LB_CHECK(r0 >= 0 && n >= 0 && r0 + n <= p->rows);
    const int64_t N = p->rows, K = p->cols;
    const int64_t G = p->scales->shape[0];
    const int bits = p->bits;
    const uint32_t mask = (1u << bits) - 1u;
    const int64_t zw = N * bits / 32;   /* words per qzeros row */
    const int32_t *qz = (const int32_t *)p->qzeros->data;
    const uint16_t *sc = (const uint16_t *)p->scales->data;
    #pragma omp parallel if (n * K >= 65536)
    {
        float *sg = malloc((size_t)G * sizeof *sg);   /* (G) this row's scales */
        int32_t *zg = malloc((size_t)G * sizeof *zg); /* (G) this row's true zeros */
        LB_CHECKF(sg && zg, "lb_packed_gptq_decode: out of memory for %lld groups", (long long)G);
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            const int64_t r = r0 + i;
            for (int64_t g = 0; g < G; g++) {
                lb_convert_to_f32(&sg[g], &sc[g * N + r], LB_F16, 1);
                zg[g] = (int32_t)((lb_gptq_field(qz + g * zw, 1, r, bits) + (uint32_t)p->zero_offset) & mask);
            }
            decode_row(p, r, sg, zg, out + i * K);
        }
        free(sg);
        free(zg);
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
