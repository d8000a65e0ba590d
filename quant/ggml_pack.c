/* ggml_pack.c — ggml block bytes from codes and back (ggml_pack.h). */
#include "quant/ggml_pack.h"

#include <string.h>

#include "autograd/tensor.h"

size_t lb_ggml_block_bytes(lb_qformat f)
{
    switch (f) {
    case LB_QF_Q4_0: return 18;
    case LB_QF_Q4_1: return 20;
    case LB_QF_Q5_0: return 22;
    case LB_QF_Q5_1: return 24;
    case LB_QF_Q8_0: return 34;
    default: return 0;
    }
}

int lb_ggml_type_id(lb_qformat f)
{
    switch (f) {
    case LB_QF_Q4_0: return 2;
    case LB_QF_Q4_1: return 3;
    case LB_QF_Q5_0: return 6;
    case LB_QF_Q5_1: return 7;
    case LB_QF_Q8_0: return 8;
    default: return -1;
    }
}

static void put_f16(uint8_t *p, float v)
{
    uint16_t h = lb_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

static float get_f16(const uint8_t *p) { return lb_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static void pack_block(lb_qformat f, const uint8_t *q, float s, float z, uint8_t *b)
{
    put_f16(b, s);
    if (f == LB_QF_Q8_0) {
        for (int i = 0; i < 32; i++) b[2 + i] = (uint8_t)(int8_t)((int)q[i] - 128);
        return;
    }
    bool has_min = f == LB_QF_Q4_1 || f == LB_QF_Q5_1, five = f == LB_QF_Q5_0 || f == LB_QF_Q5_1;
    uint8_t *p = b + 2;
    if (has_min) put_f16(p, z), p += 2;
    if (five) {
        uint32_t qh = 0;
        for (int i = 0; i < 32; i++) qh |= (uint32_t)((q[i] >> 4) & 1) << i;
        for (int k = 0; k < 4; k++) p[k] = (uint8_t)(qh >> (8 * k));
        p += 4;
    }
    for (int j = 0; j < 16; j++) p[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
}

void lb_ggml_pack_row(lb_qformat f, const uint8_t *codes, const float *s, const float *z,
                      int64_t n, uint8_t *dst)
{
    size_t bb = lb_ggml_block_bytes(f);
    for (int64_t k = 0; k < n / 32; k++) pack_block(f, codes + 32 * k, s[k], z[k], dst + bb * (size_t)k);
}

static void dequant_block(lb_qformat f, const uint8_t *b, float *y)
{
    float d = get_f16(b);
    if (f == LB_QF_Q8_0) {
        for (int i = 0; i < 32; i++) y[i] = (float)(int8_t)b[2 + i] * d;
        return;
    }
    bool has_min = f == LB_QF_Q4_1 || f == LB_QF_Q5_1, five = f == LB_QF_Q5_0 || f == LB_QF_Q5_1;
    const uint8_t *p = b + 2;
    float m = 0.0f;
    if (has_min) m = get_f16(p), p += 2;
    uint32_t qh = 0;
    if (five) qh = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24, p += 4;
    int off = has_min ? 0 : five ? 16 : 8;
    for (int j = 0; j < 16; j++) {
        int lo = p[j] & 15, hi = p[j] >> 4;
        if (five) lo |= (int)((qh >> j) & 1) << 4, hi |= (int)((qh >> (j + 16)) & 1) << 4;
        if (has_min) {
            y[j] = (float)lo * d + m;
            y[j + 16] = (float)hi * d + m;
        } else {
            y[j] = (float)(lo - off) * d;
            y[j + 16] = (float)(hi - off) * d;
        }
    }
}

void lb_ggml_dequantize_row(lb_qformat f, const uint8_t *src, int64_t n, float *y)
{
    size_t bb = lb_ggml_block_bytes(f);
    for (int64_t k = 0; k < n / 32; k++) dequant_block(f, src + bb * (size_t)k, y + 32 * k);
}
