/* quant.c — fake-quant loops: int<b> affine grids (min-max, mse, learned
 * scales), nf4/fp4/fp8 value grids, the ggml presets and int8 activations.
 *
 * The specification is the scalar reference in quant/grid.c (formulas in
 * quant/grid.h); this file computes the same numbers a different way
 * (tables of midpoints instead of libm rounding, _Float16 instead of the
 * bit-level fp16 converter, a magic-number round) and in parallel over rows,
 * and the tests compare the two bit for bit. Not here: shape checks, memory,
 * the tape (autograd/ops_quant.c).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu/kernels.h"

#define F16_MIN_SUB 0x1p-24f
#define F16_MAX 65504.0f
#define MSE_STEPS 81

/* rne: round to nearest, ties to even, for any float (|v| >= 2^22 is
 * already an integer or too large to matter; NaN stays NaN). */
static inline float rne(float v)
{
    float a = fabsf(v);
    if (!(a < 0x1p22f)) return v;
    float t = (a + 0x1.8p23f) - 0x1.8p23f;
    return copysignf(t, v);
}

static inline float clampf(float v, float lo, float hi)
{
    return fminf(fmaxf(v, lo), hi);   /* NaN -> lo */
}

static inline float round_scale(float s, bool f16)
{
    if (f16) s = (float)(_Float16)s;
    float lo = f16 ? F16_MIN_SUB : FLT_TRUE_MIN, hi = f16 ? F16_MAX : FLT_MAX;
    if (!(s >= lo)) s = lo;
    return s > hi ? hi : s;
}

static inline int64_t n_scales_per_row(lb_cpu_qlayout L) { return L.tensor ? 0 : L.cols / L.group; }

/* ---- int<b> scales --------------------------------------------------------- */

static void int_from_range(int bits, bool sym, bool f16, float lo, float hi, float *s, float *z)
{
    float maxq = (float)((1 << bits) - 1);
    if (sym) {
        float a = fmaxf(-lo, hi);
        *s = round_scale((a + a) / maxq, f16);
        *z = (float)(1 << (bits - 1));
    } else {
        *s = round_scale((hi - lo) / maxq, f16);
        *z = clampf(rne(-lo / *s), 0.0f, maxq) + 0.0f;   /* +0, never -0 */
    }
}

static void range_of(const float *x, int64_t n, float *lo, float *hi)
{
    float a = 0.0f, b = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        a = x[i] < a ? x[i] : a;
        b = x[i] > b ? x[i] : b;
    }
    if (a == 0.0f && b == 0.0f) a = -1.0f, b = 1.0f;
    *lo = a;
    *hi = b;
}

static void mse_params(const float *x, int64_t n, int bits, bool sym, bool f16, float *s, float *z)
{
    float lo, hi, maxq = (float)((1 << bits) - 1);
    range_of(x, n, &lo, &hi);
    double best = INFINITY;
    for (int i = 0; i < MSE_STEPS; i++) {
        float p = (float)(1.0 - i / 100.0), cs, cz;
        int_from_range(bits, sym, f16, p * lo, p * hi, &cs, &cz);
        double err = 0.0;
        for (int64_t j = 0; j < n; j++) {
            float q = clampf(rne(x[j] / cs) + cz, 0.0f, maxq);
            float d = cs * (q - cz) - x[j];
            err += (double)d * d;
        }
        if (err < best) best = err, *s = cs, *z = cz;
    }
}

void lb_cpu_quant_int_params(const float *w, lb_cpu_qlayout L, int bits, bool sym, bool f16,
                             bool mse, float *s, float *z)
{
    if (L.tensor) {
        float lo, hi;
        if (mse) {
            mse_params(w, L.rows * L.cols, bits, sym, f16, s, z);
            return;
        }
        range_of(w, L.rows * L.cols, &lo, &hi);
        int_from_range(bits, sym, f16, lo, hi, s, z);
        return;
    }
    int64_t G = n_scales_per_row(L);
    #pragma omp parallel for schedule(static) if (L.rows * L.cols * (mse ? 64 : 1) >= LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < L.rows; r++)
        for (int64_t g = 0; g < G; g++) {
            const float *x = w + r * L.cols + g * L.group;
            if (mse) {
                mse_params(x, L.group, bits, sym, f16, &s[r * G + g], &z[r * G + g]);
            } else {
                float lo, hi;
                range_of(x, L.group, &lo, &hi);
                int_from_range(bits, sym, f16, lo, hi, &s[r * G + g], &z[r * G + g]);
            }
        }
}

void lb_cpu_quant_absmax_params(const float *w, lb_cpu_qlayout L, float vmax, bool f16, float *s)
{
    int64_t G = L.tensor ? 1 : n_scales_per_row(L);
    int64_t rows = L.tensor ? 1 : L.rows, len = L.tensor ? L.rows * L.cols : L.group;
    #pragma omp parallel for schedule(static) if (L.rows * L.cols >= LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < G; g++) {
            const float *x = w + r * L.cols + g * len;
            float a = 0.0f;
            for (int64_t i = 0; i < len; i++) a = fmaxf(a, fabsf(x[i]));
            s[r * G + g] = a == 0.0f ? 1.0f : round_scale(a / vmax, f16);
        }
}

/* ---- int<b> fake quant ----------------------------------------------------- */

void lb_cpu_fake_quant_int_fwd(const float *w, const float *s, const float *z, lb_cpu_qlayout L,
                               int bits, float *out, uint8_t *codes)
{
    float maxq = (float)((1 << bits) - 1);
    int64_t G = n_scales_per_row(L), gl = L.tensor ? L.cols : L.group;
    #pragma omp parallel for schedule(static) if (L.rows * L.cols >= LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < L.rows; r++)
        for (int64_t c0 = 0; c0 < L.cols; c0 += gl) {
            int64_t k = L.tensor ? 0 : r * G + c0 / gl;
            float sk = s[k], zk = z[k];
            for (int64_t c = c0; c < c0 + gl; c++) {
                int64_t i = r * L.cols + c;
                float q = clampf(rne(w[i] / sk) + zk, 0.0f, maxq);
                if (out) out[i] = sk * (q - zk);
                if (codes) codes[i] = (uint8_t)q;
            }
        }
}

/* int_bwd_group: the backward of one group of n elements sharing sk, zk;
 * returns its LSQ sums through *ds_sum, *dz_sum. */
static void int_bwd_group(const float *w, const float *dout, float *dw, bool dw_over, int64_t n,
                          float sk, float zk, float maxq, double *ds_sum, double *dz_sum)
{
    double a = 0.0, b = 0.0;
    for (int64_t j = 0; j < n; j++) {
        float v = w[j] / sk, r = rne(v) + zk;
        bool inside = r >= 0.0f && r <= maxq;
        float q = clampf(r, 0.0f, maxq);
        if (dw && dw_over) dw[j] = inside ? 0.0f + dout[j] : 0.0f;   /* the bits of adding to 0 */
        else if (dw && inside) dw[j] += dout[j];
        a += (double)dout[j] * (double)((q - zk) - (inside ? v : 0.0f));
        if (!inside) b -= (double)dout[j] * sk;
    }
    *ds_sum += a;
    *dz_sum += b;
}

void lb_cpu_fake_quant_int_bwd(const float *w, const float *s, const float *z, const float *dout,
                               lb_cpu_qlayout L, int bits, float g, float *dw, bool dw_overwrite,
                               float *ds, float *dz)
{
    float maxq = (float)((1 << bits) - 1);
    if (L.tensor) {
        double a = 0.0, b = 0.0;
        for (int64_t r = 0; r < L.rows; r++)
            int_bwd_group(w + r * L.cols, dout + r * L.cols, dw ? dw + r * L.cols : NULL, dw_overwrite,
                          L.cols, s[0], z[0], maxq, &a, &b);
        if (ds) ds[0] += (float)(g * a);
        if (dz) dz[0] += (float)(g * b);
        return;
    }
    int64_t G = n_scales_per_row(L);
    #pragma omp parallel for schedule(static) if (L.rows * L.cols >= LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < L.rows; r++)
        for (int64_t k = 0; k < G; k++) {
            int64_t off = r * L.cols + k * L.group;
            double a = 0.0, b = 0.0;
            int_bwd_group(w + off, dout + off, dw ? dw + off : NULL, dw_overwrite, L.group,
                          s[r * G + k], z[r * G + k], maxq, &a, &b);
            if (ds) ds[r * G + k] += (float)(g * a);
            if (dz) dz[r * G + k] += (float)(g * b);
        }
}

void lb_cpu_fake_quant_int_clipmask(const float *w, const float *s, const float *z, lb_cpu_qlayout L,
                                    int bits, uint32_t *mask)
{
    float maxq = (float)((1 << bits) - 1);
    int64_t n = L.rows * L.cols, words = (n + 31) / 32, G = n_scales_per_row(L);
    #pragma omp parallel for schedule(static) if (n >= LB_CPU_PAR_MIN)
    for (int64_t k = 0; k < words; k++) {
        uint32_t m = 0;
        for (int b = 0; b < 32 && k * 32 + b < n; b++) {
            int64_t i = k * 32 + b, row = i / L.cols, g = L.tensor ? 0 : row * G + (i % L.cols) / L.group;
            float r = rne(w[i] / s[g]) + z[g];
            if (!(r >= 0.0f && r <= maxq)) m |= 1u << b;
        }
        mask[k] = m;
    }
}

void lb_cpu_fake_quant_mask_apply(const uint32_t *mask, float *dw, int64_t n)
{
    #pragma omp parallel for schedule(static) if (n >= LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        bool clipped = mask && ((mask[i >> 5] >> (i & 31)) & 1u);
        dw[i] = clipped ? 0.0f : 0.0f + dw[i];   /* the bits of writing 0 + dW^ */
    }
}

/* ---- value grids (nf4, fp4, fp8) --------------------------------------------- */

static const float nf4_vals[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

/* A value grid as tables: the non-negative magnitudes (fp4/fp8) or all
 * values (nf4), in increasing order, and the midpoints between neighbours
 * with, for each, whether a tie goes up (to the even code). */
typedef struct lut {
    int n;                 /* values */
    float val[127];
    float mid[126];
    bool tie_up[126];
    bool signed_mag;       /* fp4/fp8: magnitude table plus a sign bit */
    uint8_t sign_bit;
} lut;

static void lut_make(lb_cpu_qgrid grid, lut *t)
{
    memset(t, 0, sizeof *t);
    if (grid == LB_CPU_QGRID_NF4) {
        t->n = 16;
        for (int i = 0; i < 16; i++) t->val[i] = nf4_vals[i];
        for (int i = 0; i < 15; i++) t->mid[i] = (float)(((double)nf4_vals[i] + nf4_vals[i + 1]) / 2.0);
        return;   /* ties go down (bitsandbytes compares with '>') */
    }
    t->signed_mag = true;
    if (grid == LB_CPU_QGRID_FP4) {
        static const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
        t->n = 8;
        t->sign_bit = 8;
        memcpy(t->val, mag, sizeof mag);
    } else {
        t->n = 127;   /* 0x00 .. 0x7e; 0x7f is NaN */
        t->sign_bit = 0x80;
        for (int c = 0; c < 127; c++) {
            int e = c >> 3, m = c & 7;
            t->val[c] = e == 0 ? (float)m * 0x1p-9f : (1.0f + (float)m / 8.0f) * exp2f((float)(e - 7));
        }
    }
    for (int i = 0; i + 1 < t->n; i++) {
        t->mid[i] = (t->val[i] + t->val[i + 1]) * 0.5f;   /* exact: few significant bits */
        t->tie_up[i] = ((i + 1) & 1) == 0;
    }
}

/* lut_index: binary search for the number of midpoints that y passes. */
static inline int lut_index(const lut *t, float a)
{
    int lo = 0, hi = t->n - 1;   /* answer in [lo, hi] */
    while (lo < hi) {
        int k = (lo + hi) / 2;   /* does a pass mid[k]? */
        bool pass = a > t->mid[k] || (a == t->mid[k] && t->tie_up[k]);
        if (pass) lo = k + 1;
        else hi = k;
    }
    return lo;
}

void lb_cpu_fake_quant_lut_fwd(lb_cpu_qgrid grid, const float *w, const float *s,
                               lb_cpu_qlayout L, float *out, uint8_t *codes)
{
    lut t;
    lut_make(grid, &t);
    int64_t G = n_scales_per_row(L), gl = L.tensor ? L.cols : L.group;
    #pragma omp parallel for schedule(static) if (L.rows * L.cols >= LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < L.rows; r++)
        for (int64_t c0 = 0; c0 < L.cols; c0 += gl) {
            float sk = s[L.tensor ? 0 : r * G + c0 / gl];
            for (int64_t c = c0; c < c0 + gl; c++) {
                int64_t i = r * L.cols + c;
                float y = w[i] / sk, v;
                uint8_t code;
                if (t.signed_mag) {
                    int k = lut_index(&t, fabsf(y));
                    bool neg = signbit(y);
                    code = (uint8_t)(k | (neg ? t.sign_bit : 0));
                    v = neg ? -t.val[k] : t.val[k];
                } else {
                    int k = lut_index(&t, y);
                    code = (uint8_t)k;
                    v = t.val[k];
                }
                if (out) out[i] = sk * v;
                if (codes) codes[i] = code;
            }
        }
}

/* ---- ggml presets ------------------------------------------------------------ */

static inline float f16r(float v) { return (float)(_Float16)v; }

/* ggml_block: one block of 32 (FORMATS §5.3): codes, fp16 d and z/m. */
static void ggml_block(lb_cpu_ggml type, const float *x, uint8_t *q, float *d16, float *z)
{
    if (type == LB_CPU_GGML_Q4_0 || type == LB_CPU_GGML_Q5_0) {
        float amax = 0.0f, max = 0.0f;
        for (int i = 0; i < 32; i++) {
            float a = fabsf(x[i]);
            if (amax < a) amax = a, max = x[i];
        }
        int half = type == LB_CPU_GGML_Q4_0 ? 8 : 16;
        float d = max / (float)-half, id = d != 0.0f ? 1.0f / d : 0.0f, off = (float)half + 0.5f;
        for (int i = 0; i < 32; i++) {
            float t = x[i] * id + off;
            int c = t > 0.0f && t < 64.0f ? (int)t : 0;   /* (int8_t) cast; inf/NaN: 0 */
            q[i] = (uint8_t)(c > 2 * half - 1 ? 2 * half - 1 : c);
        }
        *d16 = f16r(d);
        *z = (float)half;
    } else if (type == LB_CPU_GGML_Q4_1 || type == LB_CPU_GGML_Q5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int i = 0; i < 32; i++) {
            min = x[i] < min ? x[i] : min;
            max = x[i] > max ? x[i] : max;
        }
        int top = type == LB_CPU_GGML_Q4_1 ? 15 : 31;
        float d = (max - min) / (float)top, id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32; i++) {
            float t = (x[i] - min) * id + 0.5f;
            int c = t > 0.0f && t < 64.0f ? (int)t : 0;
            q[i] = (uint8_t)(c > top ? top : c);
        }
        *d16 = f16r(d);
        *z = f16r(min);
    } else {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32; i++) {
            float v = x[i] * id, r = truncf(v);   /* roundf: half away from zero */
            if (fabsf(v - r) >= 0.5f) r += copysignf(1.0f, v);
            if (!(fabsf(r) <= 127.0f)) r = 0.0f;   /* 1/d overflowed: the int8 cast gives 0 */
            q[i] = (uint8_t)((int)r + 128);
        }
        *d16 = f16r(d);
        *z = 128.0f;
    }
}

void lb_cpu_fake_quant_ggml_fwd(lb_cpu_ggml type, const float *w, int64_t rows, int64_t cols,
                                float *out, uint8_t *codes, float *s, float *z)
{
    int64_t nb = rows * (cols / 32);
    bool one = type == LB_CPU_GGML_Q4_1 || type == LB_CPU_GGML_Q5_1;
    #pragma omp parallel for schedule(static) if (rows * cols >= LB_CPU_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        uint8_t q[32];
        float d, zz;
        ggml_block(type, w + b * 32, q, &d, &zz);
        for (int i = 0; i < 32; i++) {
            if (out) {
                if (one) {
                    float t = d * (float)q[i];
                    out[b * 32 + i] = t + zz;
                } else {
                    out[b * 32 + i] = d * ((float)q[i] - zz);
                }
            }
            if (codes) codes[b * 32 + i] = q[i];
        }
        if (s) s[b] = d;
        if (z) z[b] = zz;
    }
}

/* ---- int8 activations -------------------------------------------------------- */

void lb_cpu_fake_quant_act_token_fwd(const float *x, float *out, int64_t rows, int64_t cols)
{
    #pragma omp parallel for schedule(static) if (rows * cols >= LB_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float a = 0.0f;
        for (int64_t c = 0; c < cols; c++) a = fmaxf(a, fabsf(xr[c]));
        float s = a == 0.0f ? 1.0f : a / 127.0f;
        for (int64_t c = 0; c < cols; c++)
            out[r * cols + c] = s * clampf(rne(xr[c] / s), -127.0f, 127.0f);
    }
}

void lb_cpu_fake_quant_act_static_fwd(const float *x, float *out, int64_t n, float s)
{
    #pragma omp parallel for schedule(static) if (n >= LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = s * clampf(rne(x[i] / s), -128.0f, 127.0f);
}

void lb_cpu_fake_quant_act_static_bwd(const float *x, const float *dout, float *dx, int64_t n,
                                      float s)
{
    #pragma omp parallel for schedule(static) if (n >= LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float r = rne(x[i] / s);
        if (r >= -128.0f && r <= 127.0f) dx[i] += dout[i];
    }
}

void lb_cpu_fake_quant_act_pact_fwd(const float *x, float *out, int64_t n, float alpha)
{
    float s = alpha / 127.0f;
    #pragma omp parallel for schedule(static) if (n >= LB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = s * rne(clampf(x[i], -alpha, alpha) / s);
}

/* PACT_CHUNKS: the alpha grad is summed per chunk, then the chunks in
 * order, so the result does not depend on the thread count. */
#define PACT_CHUNKS 64

double lb_cpu_fake_quant_act_pact_bwd(const float *x, const float *dout, float *dx, int64_t n,
                                      float alpha)
{
    double part[PACT_CHUNKS];
    int64_t len = (n + PACT_CHUNKS - 1) / PACT_CHUNKS;
    #pragma omp parallel for schedule(static) if (n >= LB_CPU_PAR_MIN)
    for (int k = 0; k < PACT_CHUNKS; k++) {
        double acc = 0.0;
        int64_t i1 = (k + 1) * len < n ? (k + 1) * len : n;
        for (int64_t i = k * len; i < i1; i++) {
            if (fabsf(x[i]) < alpha) {
                if (dx) dx[i] += dout[i];
            } else {
                acc += x[i] > 0.0f ? (double)dout[i] : -(double)dout[i];
            }
        }
        part[k] = acc;
    }
    double sum = 0.0;
    for (int k = 0; k < PACT_CHUNKS; k++) sum += part[k];
    return sum;
}
