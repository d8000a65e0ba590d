/* ggml_pack.c — ggml block bytes from codes and back (ggml_pack.h). */
#include "quant/ggml_pack.h"

#include <math.h>
#include <string.h>

#include "autograd/tensor.h"
#include "autograd/status.h"

int64_t lb_ggml_block_size(lb_qformat f)
{
    if (f == LB_QF_Q4_K || f == LB_QF_Q6_K) return 256;
    return lb_ggml_block_bytes(f) ? 32 : 0;
}

size_t lb_ggml_block_bytes(lb_qformat f)
{
    switch (f) {
    case LB_QF_Q4_0: return 18;
    case LB_QF_Q4_1: return 20;
    case LB_QF_Q5_0: return 22;
    case LB_QF_Q5_1: return 24;
    case LB_QF_Q8_0: return 34;
    case LB_QF_Q4_K: return 144;
    case LB_QF_Q6_K: return 210;
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
    case LB_QF_Q4_K: return 12;
    case LB_QF_Q6_K: return 14;
    default: return -1;
    }
}

int lb_ggml_scales_per_block(lb_qformat f)
{
    return f == LB_QF_Q4_K ? 8 : f == LB_QF_Q6_K ? 16 : 1;
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

/* ---- K-quants: one super-block of 256 ------------------------------------------ */

/* same_bits: a and b are the same float, sign of zero included. */
static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* k_header: the super-block scale d and integer sub-block scales sc[0..n)
 * with d*sc[k] == s[k] bit for bit, from the canonical form (ggml_pack.h):
 * d = top / unit where top is the largest s (q4_k, unit 63) or the s of
 * largest magnitude (q6_k, unit -128); all zero: d = 0. Aborts if s is not
 * in that form (a broken invariant of the encoder, not the user's input). */
static float k_header(const float *s, int n, float unit, int lo, int hi, int *sc)
{
    float top = 0.0f;
    for (int k = 0; k < n; k++)
        if (unit > 0.0f ? s[k] > top : fabsf(s[k]) > fabsf(top)) top = s[k];
    float d = top != 0.0f ? top / unit : 0.0f;
    for (int k = 0; k < n; k++) {
        float q = d != 0.0f ? s[k] / d : 0.0f;
        bool in = q >= (float)lo && q <= (float)hi;   /* before the cast: NaN, huge */
        sc[k] = in ? (int)q : 0;
        LB_CHECKF(in && (float)sc[k] == q && same_bits(d * (float)sc[k], s[k]) &&
                      lb_f16_to_f32(lb_f32_to_f16(d)) == d,
                  "lb_ggml_pack_row: sub-block scale %a of a K-quant super-block is not d*sc with an "
                  "fp16 d (d = %a); pass lb_quantizer_codes' scales unchanged",
                  (double)s[k], (double)d);
    }
    return d;
}

static void pack_k_block(lb_qformat f, const uint8_t *q, const float *s, const float *z, uint8_t *b)
{
    memset(b, 0, lb_ggml_block_bytes(f));
    if (f == LB_QF_Q4_K) {
        int sc[8], mn[8];
        float d = k_header(s, 8, 63.0f, 0, 63, sc), dmin = k_header(z, 8, 63.0f, 0, 63, mn);
        put_f16(b, d);
        put_f16(b + 2, dmin);
        uint8_t *scales = b + 4, *qs = b + 16;
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                scales[j] = (uint8_t)sc[j];
                scales[j + 4] = (uint8_t)mn[j];
            } else {
                scales[j + 4] = (uint8_t)((sc[j] & 0xF) | (mn[j] & 0xF) << 4);
                scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
                scales[j] |= (uint8_t)((mn[j] >> 4) << 6);
            }
        }
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                qs[32 * c + l] = (uint8_t)((q[64 * c + l] & 15) | (q[64 * c + 32 + l] & 15) << 4);
        return;
    }
    int sc[16];
    float d = k_header(s, 16, -128.0f, -128, 127, sc);
    uint8_t *ql = b, *qh = b + 128;
    for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(int8_t)sc[j];
    put_f16(b + 208, d);
    for (int h = 0; h < 2; h++, q += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((q[l] & 15) | (q[l + 64] & 15) << 4);
            ql[l + 32] = (uint8_t)((q[l + 32] & 15) | (q[l + 96] & 15) << 4);
            qh[l] = (uint8_t)((q[l] >> 4) | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 |
                              (q[l + 96] >> 4) << 6);
        }
}

/* q4k_scale_min: ggml's get_scale_min_k4. */
static void q4k_scale_min(int j, const uint8_t *q, int *sc, int *mn)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* dequant_k_block: ggml's dequantize_row_q4_K / q6_K on one super-block,
 * in its fp32 operation order. */
static void dequant_k_block(lb_qformat f, const uint8_t *b, float *y)
{
    if (f == LB_QF_Q4_K) {
        float d = get_f16(b), dmin = get_f16(b + 2);
        const uint8_t *qs = b + 16;
        for (int c = 0; c < 4; c++, qs += 32, y += 64) {
            int sc, mn;
            q4k_scale_min(2 * c, b + 4, &sc, &mn);
            float d1 = d * (float)sc, m1 = dmin * (float)mn;
            q4k_scale_min(2 * c + 1, b + 4, &sc, &mn);
            float d2 = d * (float)sc, m2 = dmin * (float)mn;
            for (int l = 0; l < 32; l++) y[l] = d1 * (float)(qs[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) y[32 + l] = d2 * (float)(qs[l] >> 4) - m2;
        }
        return;
    }
    float d = get_f16(b + 208);
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    for (int h = 0; h < 2; h++, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
            int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
            int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
            int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
}

void lb_ggml_pack_row(lb_qformat f, const uint8_t *codes, const float *s, const float *z,
                      int64_t n, uint8_t *dst)
{
    size_t bb = lb_ggml_block_bytes(f);
    if (f == LB_QF_Q4_K || f == LB_QF_Q6_K) {
        int spb = lb_ggml_scales_per_block(f);
        for (int64_t k = 0; k < n / 256; k++)
            pack_k_block(f, codes + 256 * k, s + spb * k, z + spb * k, dst + bb * (size_t)k);
        return;
    }
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
    if (f == LB_QF_Q4_K || f == LB_QF_Q6_K) {
        for (int64_t k = 0; k < n / 256; k++) dequant_k_block(f, src + bb * (size_t)k, y + 256 * k);
        return;
    }
    for (int64_t k = 0; k < n / 32; k++) dequant_block(f, src + bb * (size_t)k, y + 32 * k);
}
