/* grid.c — scalar reference quantizers, one group at a time (grid.h).
 *
 * Readable first: linear scans and libm rounding, written independently of
 * the table-driven kernels in kernels/cpu/quant.c so that the tests compare
 * two implementations. Not here: loops over tensors, threads, gradients.
 */
#include "quant/grid.h"

#include <float.h>
#include <math.h>

#include "autograd/tensor.h"

const float lb_nf4_values[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

#define F16_MIN_SUB 5.9604644775390625e-08f   /* 2^-24 */
#define F16_MAX 65504.0f

float lb_grid_round_scale(float s_raw, bool f16)
{
    if (f16) {
        float s = lb_f16_to_f32(lb_f32_to_f16(s_raw));
        if (!(s >= F16_MIN_SUB)) s = F16_MIN_SUB;   /* also NaN */
        if (s > F16_MAX) s = F16_MAX;
        return s;
    }
    float s = s_raw;
    if (!(s >= FLT_TRUE_MIN)) s = FLT_TRUE_MIN;
    if (s > FLT_MAX) s = FLT_MAX;
    return s;
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void lb_grid_int_params_range(int bits, bool sym, bool f16, float xmin, float xmax, float *s,
                              float *z)
{
    float maxq = (float)((1 << bits) - 1);
    if (sym) {
        float a = -xmin > xmax ? -xmin : xmax;
        *s = lb_grid_round_scale((a + a) / maxq, f16);
        *z = (float)(1 << (bits - 1));
    } else {
        *s = lb_grid_round_scale((xmax - xmin) / maxq, f16);
        *z = clampf(nearbyintf(-xmin / *s), 0.0f, maxq) + 0.0f;   /* +0, never -0 */
    }
}

/* group_range: min(min x, 0), max(max x, 0), with the all-zero convention. */
static void group_range(const float *x, int64_t n, float *xmin, float *xmax)
{
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (lo == 0.0f && hi == 0.0f) lo = -1.0f, hi = 1.0f;
    *xmin = lo;
    *xmax = hi;
}

static float int_code(float x, float s, float z, float maxq)
{
    return clampf(nearbyintf(x / s) + z, 0.0f, maxq);
}

static void mse_search(const lb_qspec *sp, const float *x, int64_t n, float *s, float *z)
{
    float xmin, xmax, maxq = (float)((1 << sp->bits) - 1);
    group_range(x, n, &xmin, &xmax);
    double best = INFINITY;
    for (int i = 0; i < LB_QGRID_MSE_STEPS; i++) {
        float p = (float)(1.0 - i / 100.0), cs, cz;
        lb_grid_int_params_range(sp->bits, sp->sym, sp->scale_f16, p * xmin, p * xmax, &cs, &cz);
        double err = 0.0;
        for (int64_t j = 0; j < n; j++) {
            float d = cs * (int_code(x[j], cs, cz, maxq) - cz) - x[j];
            err += (double)d * d;
        }
        if (err < best) best = err, *s = cs, *z = cz;
    }
}

static float absmax_grid_max(lb_qformat f)
{
    return f == LB_QF_NF4 ? 1.0f : f == LB_QF_FP4 ? 6.0f : 448.0f;
}

void lb_grid_params(const lb_qspec *sp, const float *x, int64_t n, float *s, float *z)
{
    if (sp->format == LB_QF_INT) {
        if (sp->mode == LB_QM_MINMAX) {
            float xmin, xmax;
            group_range(x, n, &xmin, &xmax);
            lb_grid_int_params_range(sp->bits, sp->sym, sp->scale_f16, xmin, xmax, s, z);
        } else {
            mse_search(sp, x, n, s, z);
        }
        return;
    }
    float a = 0.0f;
    for (int64_t i = 0; i < n; i++)
        if (fabsf(x[i]) > a) a = fabsf(x[i]);
    *s = a == 0.0f ? 1.0f : lb_grid_round_scale(a / absmax_grid_max(sp->format), sp->scale_f16);
    *z = 0.0f;
}

/* ---- value grids ----------------------------------------------------------- */

static uint8_t nf4_code(float y)
{
    uint8_t c = 0;
    for (int k = 0; k < 15; k++) {
        float mid = (float)(((double)lb_nf4_values[k] + lb_nf4_values[k + 1]) / 2.0);
        if (y > mid) c = (uint8_t)(k + 1);
    }
    return c;
}

/* e2m1: magnitudes 0, .5, 1, 1.5 (exp 0 and 1) then 2, 3, 4, 6. */
static uint8_t fp4_code(float y)
{
    uint8_t sign = signbit(y) ? 8 : 0;
    float a = fabsf(y);
    if (!(a < 6.0f)) return sign | 7;
    if (a < 1.0f) return sign | (uint8_t)nearbyintf(a * 2.0f);   /* 0, 1 or 2 (= 1.0) */
    int e;
    float m = frexpf(a, &e) * 2.0f;   /* a = m * 2^(e-1), m in [1, 2) */
    e -= 1;                           /* 0, 1 or 2 */
    int mm = (int)nearbyintf((m - 1.0f) * 2.0f);
    if (mm == 2) e++, mm = 0;
    if (e > 2) return sign | 7;
    return sign | (uint8_t)(((e + 1) << 1) | mm);
}

static uint8_t fp8_code(float y)
{
    uint8_t sign = signbit(y) ? 0x80 : 0;
    float a = fabsf(y);
    if (!(a < 448.0f)) return sign | 0x7e;
    if (a < 0.015625f) {                                  /* subnormal: steps of 2^-9 */
        int m = (int)nearbyintf(a * 512.0f);             /* 0..8; 8 is the smallest normal */
        return sign | (uint8_t)m;
    }
    int e;
    float m = frexpf(a, &e) * 2.0f;
    e -= 1;                                               /* -6 .. 8 */
    int mm = (int)nearbyintf((m - 1.0f) * 8.0f);
    if (mm == 8) e++, mm = 0;
    if (e > 8 || (e == 8 && mm == 7)) return sign | 0x7e; /* 480 and up: saturate */
    return sign | (uint8_t)(((e + 7) << 3) | mm);
}

float lb_grid_value(lb_qformat fmt, uint8_t code)
{
    if (fmt == LB_QF_NF4) return lb_nf4_values[code & 15];
    if (fmt == LB_QF_FP4) {
        static const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
        float v = mag[code & 7];
        return (code & 8) ? -v : v;
    }
    int e = (code >> 3) & 15, m = code & 7;
    float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return (code & 0x80) ? -v : v;
}

void lb_grid_quantize(const lb_qspec *sp, const float *x, int64_t n, float s, float z,
                      uint8_t *codes)
{
    float maxq = (float)lb_qspec_maxq(sp);
    for (int64_t i = 0; i < n; i++) {
        switch (sp->format) {
        case LB_QF_INT: codes[i] = (uint8_t)int_code(x[i], s, z, maxq); break;
        case LB_QF_NF4: codes[i] = nf4_code(x[i] / s); break;
        case LB_QF_FP4: codes[i] = fp4_code(x[i] / s); break;
        case LB_QF_FP8: codes[i] = fp8_code(x[i] / s); break;
        default: codes[i] = 0; break;
        }
    }
}

void lb_grid_dequantize(const lb_qspec *sp, const uint8_t *codes, int64_t n, float s, float z,
                        float *out)
{
    for (int64_t i = 0; i < n; i++) {
        switch (sp->format) {
        case LB_QF_NF4:
        case LB_QF_FP4:
        case LB_QF_FP8: out[i] = s * lb_grid_value(sp->format, codes[i]); break;
        case LB_QF_Q4_1:
        case LB_QF_Q5_1: {
            float t = s * (float)codes[i];
            out[i] = t + z;
            break;
        }
        default: out[i] = s * ((float)codes[i] - z); break;
        }
    }
}

/* ---- ggml presets ---------------------------------------------------------- */

static float f16r(float v) { return lb_f16_to_f32(lb_f32_to_f16(v)); }

/* trunc8: C's (int8_t) conversion as ggml's reference meets it: finite
 * values here lie in (-1, 34); a non-finite one (1/d overflowed to inf for
 * a block of subnormal values) gives 0, which is what x86 and gguf-py's
 * numpy cast produce (ggml's C leaves it undefined). */
static int trunc8(float t) { return isfinite(t) && t > 0.0f ? (int)t : 0; }

void lb_grid_ggml_block(lb_qformat fmt, const float *x, uint8_t *codes, float *s, float *z)
{
    const int n = LB_GGML_BLOCK;
    if (fmt == LB_QF_Q4_0 || fmt == LB_QF_Q5_0) {
        float amax = 0.0f, max = 0.0f;
        for (int i = 0; i < n; i++)
            if (amax < fabsf(x[i])) amax = fabsf(x[i]), max = x[i];
        int half = fmt == LB_QF_Q4_0 ? 8 : 16, top = 2 * half - 1;
        float d = max / (float)-half, id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < n; i++) {
            int c = trunc8(x[i] * id + ((float)half + 0.5f));
            codes[i] = (uint8_t)(c < top ? c : top);
        }
        *s = f16r(d);
        *z = (float)half;
    } else if (fmt == LB_QF_Q4_1 || fmt == LB_QF_Q5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int i = 0; i < n; i++) {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
        }
        int top = fmt == LB_QF_Q4_1 ? 15 : 31;
        float d = (max - min) / (float)top, id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < n; i++) {
            int c = trunc8((x[i] - min) * id + 0.5f);
            codes[i] = (uint8_t)(c < top ? c : top);
        }
        *s = f16r(d);
        *z = f16r(min);
    } else {   /* q8_0 */
        float amax = 0.0f;
        for (int i = 0; i < n; i++)
            if (amax < fabsf(x[i])) amax = fabsf(x[i]);
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < n; i++) {
            float r = roundf(x[i] * id);   /* in [-127, 127], or non-finite: 0 (see trunc8) */
            codes[i] = (uint8_t)((isfinite(r) ? (int)r : 0) + 128);
        }
        *s = f16r(d);
        *z = 128.0f;
    }
}
