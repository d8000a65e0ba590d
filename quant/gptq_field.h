/* gptq_field.h — reading one value of a GPTQ bit stream (FORMATS.md §3.2),
 * shared by the host (quant/gptq.h and its users) and the CUDA decode
 * (kernels/cuda/packed_gptq.cu), so both read the packing through one
 * definition. Plain C99 / CUDA C++; no other lowbit header.
 */
#ifndef LB_QUANT_GPTQ_FIELD_H
#define LB_QUANT_GPTQ_FIELD_H

#include <stdint.h>

#ifdef __CUDACC__
#define LB_GPTQ_HD __host__ __device__
#else
#define LB_GPTQ_HD
#endif

/* lb_gptq_field: value i (bits wide, unsigned) of the bit stream of words
 * (consecutive words wstride apart): bits [i*bits, i*bits + bits), bit 0 =
 * LSB of the first word. bits must lie in [1, 31] (callers pass 2, 3, 4
 * or 8); not checked. */
static inline LB_GPTQ_HD uint32_t lb_gptq_field(const int32_t *words, int64_t wstride, int64_t i, int bits)
{
    int64_t bit = i * bits;
    int64_t w = bit >> 5;
    int sh = (int)(bit & 31);
    uint64_t v = (uint32_t)words[w * wstride] >> sh;
    if (sh + bits > 32) v |= (uint64_t)(uint32_t)words[(w + 1) * wstride] << (32 - sh);
    return (uint32_t)v & ((1u << bits) - 1u);
}

#endif /* LB_QUANT_GPTQ_FIELD_H */
