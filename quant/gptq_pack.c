/* gptq_pack.c — GPTQ bit packing (FORMATS.md §3.2, §3.3) and unpacking a
 * packed linear back into lowbit's codes / scales / zeros (see gptq.h).
 *
 * One rule for every width: value i sits at bits [i*b, i*b + b) of the
 * little-endian bit stream of the sequence's words. The packer writes whole
 * words (n*b is a multiple of 32), so a value that crosses a word boundary
 * (3-bit values 10 and 21 of every 32) is split exactly as AutoGPTQ does.
 */
#include <string.h>

#include "autograd/tensor.h"
#include "quant/gptq.h"

void lb_gptq_pack(const int32_t *vals, int64_t vstride, int64_t n, int bits, int32_t *words, int64_t wstride)
{
    LB_CHECKF((n * bits) % 32 == 0, "lb_gptq_pack: %lld values of %d bits are not whole words", (long long)n,
              bits);
    int64_t nw = n * bits / 32;
    uint64_t acc = 0;   /* bits not yet written, LSB first */
    int have = 0;
    int64_t w = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)vals[i * vstride];
        LB_CHECKF(v < (1u << bits), "lb_gptq_pack: value %u does not fit %d bits", v, bits);
        acc |= (uint64_t)v << have;
        have += bits;
        if (have >= 32) {
            words[w++ * wstride] = (int32_t)(uint32_t)acc;
            acc >>= 32;
            have -= 32;
        }
    }
    LB_CHECK(w == nw && have == 0);
}

void lb_gptq_codes(const lb_packed *p, uint8_t *codes, float *scales, float *zeros)
{
    LB_CHECK(p->kind == LB_PACKED_GPTQ && p->qweight->device == LB_CPU && !p->g_idx);
    const int64_t N = p->rows, K = p->cols;
    const int64_t gs = p->group_size > 0 ? p->group_size : K;
    const int64_t G = (K + gs - 1) / gs;
    const int32_t *qw = (const int32_t *)p->qweight->data;
    const int32_t *qz = (const int32_t *)p->qzeros->data;
    const uint16_t *sc = (const uint16_t *)p->scales->data;
    const uint32_t mask = (1u << p->bits) - 1u;
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) codes[n * K + k] = (uint8_t)lb_gptq_field(qw + n, N, k, p->bits);
    const int64_t zw = N * p->bits / 32;   /* words per qzeros row */
    for (int64_t g = 0; g < G; g++)
        for (int64_t n = 0; n < N; n++) {
            uint32_t z = (lb_gptq_field(qz + g * zw, 1, n, p->bits) + (uint32_t)p->zero_offset) & mask;
            float s;
            lb_convert_to_f32(&s, &sc[g * N + n], LB_F16, 1);
            scales[n * G + g] = s;
            zeros[n * G + g] = (float)z;
        }
}
