/* quant_k.c — fake-quant loops of the K-quants q4_k and q6_k: one
 * super-block of 256 per iteration, in parallel over all super-blocks of
 * the weight.
 *
 * The specification is the scalar reference in quant/grid_k.c (formulas in
 * quant/grid_k.h); this file computes the same numbers with other
 * primitives (the magic-number rne instead of nearbyintf, _Float16 instead
 * of the bit-level converter, comparison clamps, cached codes) and the tests compare the
 * two bit for bit. The fp32 operation order is the specification's: every
 * sum runs in element order, and the build forbids FMA contraction. Not
 * here: shape checks, the tape, packing.
 */
#include <math.h>
#include <string.h>

#include "kernels/cpu/kernels.h"

#define F16_MAX 65504.0f
#define GROUP_MAX_EPS 1e-15f

static inline float rne(float v)
{
    float a = fabsf(v);
    if (!(a < 0x1p22f)) return v;
    return copysignf((a + 0x1.8p23f) - 0x1.8p23f, v);
}

/* qcode: clamp(rne(v), lo, hi) with NaN -> lo, as the integer it is: -0
 * becomes +0 (d * sc and s * q must see the integer 0). Comparisons, not
 * fminf/fmaxf: they compile to min/max instructions instead of libm calls. */
static inline float qcode(float v, float lo, float hi)
{
    float r = rne(v);
    r = r >= lo ? r : lo;
    return (r > hi ? hi : r) + 0.0f;
}

static inline float f16c(float v) { return fminf(fmaxf((float)(_Float16)v, -F16_MAX), F16_MAX); }

static inline float pos_or_zero(float v) { return v > 0.0f && v <= 0x1.fffffep127f ? v : 0.0f; }

/* ---- q4_k ------------------------------------------------------------------ */

/* q4k_err: sum w_i * ((sc*l_i + mn) - x_i)^2 for the codes l of a candidate. */
static float q4k_err(const float *x, const float *w, const float *l, float sc, float mn)
{
    float e = 0.0f;
    for (int i = 0; i < 32; i++) {
        float d = sc * l[i] + mn - x[i];
        e += w[i] * (d * d);
    }
    return e;
}

/* q4k_sub: (scale, min) of one sub-block of 32 by the weighted search. */
static void q4k_sub(const float *x, float *scale_out, float *min_out)
{
    float ss = 0.0f, w[32];
    for (int i = 0; i < 32; i++) ss += x[i] * x[i];
    float av = sqrtf(ss / 32.0f);
    for (int i = 0; i < 32; i++) w[i] = av + fabsf(x[i]);
    float lo = x[0], hi = x[0], sw = w[0], sx = w[0] * x[0];
    for (int i = 1; i < 32; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
        sw += w[i];
        sx += w[i] * x[i];
    }
    lo = lo > 0.0f ? 0.0f : lo;
    if (hi == lo) {
        *scale_out = 0.0f;
        *min_out = pos_or_zero(-lo);
        return;
    }
    float range = hi - lo, is0 = 15.0f / range, scale = 1.0f / is0, mn = lo, l[32];
    for (int i = 0; i < 32; i++) l[i] = qcode(is0 * (x[i] - lo), 0.0f, 15.0f);
    float best = q4k_err(x, w, l, scale, mn);
    for (int k = 0; k <= 20; k++) {
        float is = (-1.0f + 0.1f * (float)k + 15.0f) / range;
        float sl = 0.0f, sl2 = 0.0f, sxl = 0.0f;
        for (int i = 0; i < 32; i++) l[i] = qcode(is * (x[i] - lo), 0.0f, 15.0f);
        for (int i = 0; i < 32; i++) {
            float wl = w[i] * l[i];
            sl += wl;
            sl2 += wl * l[i];
            sxl += wl * x[i];
        }
        float D = sw * sl2 - sl * sl;
        if (D > 0.0f) {
            float s1 = (sw * sxl - sx * sl) / D, m1 = (sl2 * sx - sl * sxl) / D;
            if (m1 > 0.0f) m1 = 0.0f, s1 = sxl / sl2;
            float e = q4k_err(x, w, l, s1, m1);
            if (e < best) best = e, scale = s1, mn = m1;
        }
    }
    *scale_out = pos_or_zero(scale);
    *min_out = pos_or_zero(-mn);
}

/* q4k_header: d and the 6-bit codes of v[8] (the canonical form). */
static float q4k_header(const float *v, float *code)
{
    float top = 0.0f;
    for (int j = 0; j < 8; j++) top = v[j] > top ? v[j] : top;
    float inv = top > 0.0f ? 63.0f / top : 0.0f, d = f16c(top / 63.0f), any = 0.0f;
    for (int j = 0; j < 8; j++) {
        code[j] = qcode(inv * v[j], 0.0f, 63.0f);
        any = fmaxf(any, code[j]);
    }
    if (d != 0.0f && any != 0.0f) return d;
    for (int j = 0; j < 8; j++) code[j] = 0.0f;
    return 0.0f;
}

static void q4k_block(const float *x, float *out, uint8_t *codes, float *s, float *z)
{
    float scale[8], min[8], sc[8], mn[8];
    for (int j = 0; j < 8; j++) q4k_sub(x + 32 * j, &scale[j], &min[j]);
    float d = q4k_header(scale, sc), dmin = q4k_header(min, mn);
    for (int j = 0; j < 8; j++) {
        float sj = d * sc[j], mj = dmin * mn[j];
        for (int i = 32 * j; i < 32 * j + 32; i++) {
            float q = sj == 0.0f ? 0.0f : qcode((x[i] + mj) / sj, 0.0f, 15.0f);
            if (out) out[i] = sj * q - mj;
            if (codes) codes[i] = (uint8_t)q;
        }
        if (s) s[j] = sj;
        if (z) z[j] = mj;
    }
}

/* ---- q6_k ------------------------------------------------------------------ */

static void q6k_sums(const float *x, float is, float *lx, float *l2)
{
    float a = 0.0f, b = 0.0f;
    for (int i = 0; i < 16; i++) {
        float l = qcode(is * x[i], -32.0f, 31.0f), w = x[i] * x[i];
        a += w * x[i] * l;
        b += w * l * l;
    }
    *lx = a, *l2 = b;
}

static float q6k_sub(const float *x)
{
    float amax = 0.0f, mx = 0.0f;
    for (int i = 0; i < 16; i++) {
        float a = fabsf(x[i]);
        if (a > amax) amax = a, mx = x[i];
    }
    if (amax < GROUP_MAX_EPS) return 0.0f;
    float lx, l2;
    q6k_sums(x, -32.0f / mx, &lx, &l2);
    float scale = l2 != 0.0f ? lx / l2 : 0.0f, best = scale * lx;
    for (int k = -9; k <= 9; k++) {
        if (!k) continue;
        q6k_sums(x, -(32.0f + 0.1f * (float)k) / mx, &lx, &l2);
        if (l2 > 0.0f && lx * lx > best * l2) scale = lx / l2, best = scale * lx;
    }
    return fabsf(scale) <= 0x1.fffffep127f ? scale : 0.0f;   /* inf, NaN -> 0 */
}

static void q6k_block(const float *x, float *out, uint8_t *codes, float *s, float *z)
{
    float scale[16], top = 0.0f;
    for (int j = 0; j < 16; j++) {
        scale[j] = q6k_sub(x + 16 * j);
        top = fabsf(scale[j]) > fabsf(top) ? scale[j] : top;
    }
    bool zero = fabsf(top) < GROUP_MAX_EPS;
    float is = zero ? 0.0f : -128.0f / top, d = zero ? 0.0f : f16c(1.0f / is);
    for (int j = 0; j < 16; j++) {
        float sj = d == 0.0f ? 0.0f : d * qcode(is * scale[j], -128.0f, 127.0f);
        for (int i = 16 * j; i < 16 * j + 16; i++) {
            float q = sj == 0.0f ? 32.0f : qcode(x[i] / sj, -32.0f, 31.0f) + 32.0f;
            if (out) out[i] = sj * (q - 32.0f);
            if (codes) codes[i] = (uint8_t)q;
        }
        if (s) s[j] = sj;
        if (z) z[j] = 32.0f;
    }
}

void lb_cpu_fake_quant_kquant_fwd(lb_cpu_ggml type, const float *w, int64_t rows, int64_t cols,
                                  float *out, uint8_t *codes, float *s, float *z)
{
    int64_t nb = rows * (cols / 256);
    int spb = type == LB_CPU_GGML_Q4_K ? 8 : 16;
    #pragma omp parallel for schedule(static) if (rows * cols >= LB_CPU_PAR_MIN / 16)
    for (int64_t b = 0; b < nb; b++) {
        const float *x = w + b * 256;
        float *o = out ? out + b * 256 : NULL, *sb = s ? s + b * spb : NULL, *zb = z ? z + b * spb : NULL;
        uint8_t *c = codes ? codes + b * 256 : NULL;
        if (type == LB_CPU_GGML_Q4_K) q4k_block(x, o, c, sb, zb);
        else q6k_block(x, o, c, sb, zb);
    }
}
