/* grid_k.c — scalar reference of the K-quants q4_k and q6_k, one
 * super-block at a time (grid_k.h has the formulas).
 *
 * Readable first: libm rounding (nearbyintf), the bit-level fp16 converter
 * of autograd/tensor.h, one loop per formula; written independently of the
 * row-parallel kernel in kernels/cpu/quant_k.c so that the tests compare two
 * implementations. Not here: loops over tensors, threads, gradients,
 * packing (ggml_pack.c).
 */
#include "quant/grid_k.h"

#include <math.h>
#include <string.h>

#include "autograd/tensor.h"

#define F16_MAX 65504.0f
#define GROUP_MAX_EPS 1e-15f

/* code_of: clamp(nearest(v), lo, hi), NaN -> lo. */
static int code_of(float v, int lo, int hi)
{
    if (!(v >= (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    return (int)nearbyintf(v);
}

/* f16_clamped: v rounded to fp16, +-inf clamped to +-65504. */
static float f16_clamped(float v)
{
    float h = lb_f16_to_f32(lb_f32_to_f16(v));
    if (h > F16_MAX) return F16_MAX;
    if (h < -F16_MAX) return -F16_MAX;
    return h;
}

static float finite_pos(float v) { return v > 0.0f && isfinite(v) ? v : 0.0f; }

/* ---- q4_k ----------------------------------------------------------------- */

/* q4k_error: sum w_i * ((scale*l_i + min) - x_i)^2 with l_i from iscale. */
static float q4k_error(const float *x, const float *w, float iscale, float mn, float scale, float min)
{
    float err = 0.0f;
    for (int i = 0; i < 32; i++) {
        float l = (float)code_of(iscale * (x[i] - mn), 0, 15);
        float e = scale * l + min - x[i];
        err += w[i] * (e * e);
    }
    return err;
}

/* q4k_search: the weighted least-squares scale / min search of one
 * sub-block (grid_k.h "search"); returns scale_j, writes min_j. */
static float q4k_search(const float *x, const float *w, float *min_out)
{
    float mn = x[0], mx = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < 32; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (mn > 0.0f) mn = 0.0f;
    if (mx == mn) {
        *min_out = -mn;
        return 0.0f;
    }
    float iscale = 15.0f / (mx - mn), scale = 1.0f / iscale, min = mn;
    float best = q4k_error(x, w, iscale, mn, scale, min);
    for (int is = 0; is <= 20; is++) {
        float cand = (-1.0f + 0.1f * (float)is + 15.0f) / (mx - mn);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < 32; i++) {
            float l = (float)code_of(cand * (x[i] - mn), 0, 15), wl = w[i] * l;
            sum_l += wl;
            sum_l2 += wl * l;
            sum_xl += wl * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0.0f)) continue;
        float s1 = (sum_w * sum_xl - sum_x * sum_l) / D, m1 = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (m1 > 0.0f) {
            m1 = 0.0f;
            s1 = sum_xl / sum_l2;
        }
        float err = q4k_error(x, w, cand, mn, s1, m1);
        if (err < best) best = err, scale = s1, min = m1;
    }
    *min_out = -min;
    return scale;
}

/* header6: 6-bit codes of v[0..8) against their maximum; d = f16(max/63);
 * the canonical zero when d or every code is 0. Returns d. */
static float header6(const float *v, int *code)
{
    float top = 0.0f;
    for (int j = 0; j < 8; j++)
        if (v[j] > top) top = v[j];
    float inv = top > 0.0f ? 63.0f / top : 0.0f, d = f16_clamped(top / 63.0f);
    bool any = false;
    for (int j = 0; j < 8; j++) {
        code[j] = code_of(inv * v[j], 0, 63);
        any |= code[j] != 0;
    }
    if (d == 0.0f || !any) {
        memset(code, 0, 8 * sizeof *code);
        return 0.0f;
    }
    return d;
}

void lb_grid_q4k_block(const float *x, uint8_t *codes, float *s, float *m)
{
    float scale[8], min[8];
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j;
        float sum_x2 = 0.0f, w[32];
        for (int i = 0; i < 32; i++) sum_x2 += xj[i] * xj[i];
        float av = sqrtf(sum_x2 / 32.0f);
        for (int i = 0; i < 32; i++) w[i] = av + fabsf(xj[i]);
        scale[j] = finite_pos(q4k_search(xj, w, &min[j]));
        min[j] = finite_pos(min[j]);
    }
    int sc[8], mn[8];
    float d = header6(scale, sc), dmin = header6(min, mn);
    for (int j = 0; j < 8; j++) {
        s[j] = d * (float)sc[j];
        m[j] = dmin * (float)mn[j];
        for (int i = 0; i < 32; i++)
            codes[32 * j + i] =
                (uint8_t)(s[j] == 0.0f ? 0 : code_of((x[32 * j + i] + m[j]) / s[j], 0, 15));
    }
}

/* ---- q6_k ----------------------------------------------------------------- */

/* q6k_sums: sumlx and suml2 of one sub-block for iscale. */
static void q6k_sums(const float *x, float iscale, float *sumlx, float *suml2)
{
    float a = 0.0f, b = 0.0f;
    for (int i = 0; i < 16; i++) {
        float l = (float)code_of(iscale * x[i], -32, 31), w = x[i] * x[i];
        a += w * x[i] * l;
        b += w * l * l;
    }
    *sumlx = a;
    *suml2 = b;
}

/* q6k_search: the sub-block scale (grid_k.h "search"). */
static float q6k_search(const float *x)
{
    float amax = 0.0f, mx = 0.0f;
    for (int i = 0; i < 16; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), mx = x[i];
    if (amax < GROUP_MAX_EPS) return 0.0f;
    float sumlx, suml2;
    q6k_sums(x, -32.0f / mx, &sumlx, &suml2);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        q6k_sums(x, -(32.0f + 0.1f * (float)is) / mx, &sumlx, &suml2);
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return isfinite(scale) ? scale : 0.0f;
}

void lb_grid_q6k_block(const float *x, uint8_t *codes, float *s)
{
    float scale[16], top = 0.0f;
    for (int j = 0; j < 16; j++) {
        scale[j] = q6k_search(x + 16 * j);
        if (fabsf(scale[j]) > fabsf(top)) top = scale[j];
    }
    float d = 0.0f, iscale = 0.0f;
    if (!(fabsf(top) < GROUP_MAX_EPS)) {
        iscale = -128.0f / top;
        d = f16_clamped(1.0f / iscale);
    }
    for (int j = 0; j < 16; j++) {
        int sc = d != 0.0f ? code_of(iscale * scale[j], -128, 127) : 0;
        s[j] = d == 0.0f ? 0.0f : d * (float)sc;
        for (int i = 0; i < 16; i++)
            codes[16 * j + i] =
                (uint8_t)(s[j] == 0.0f ? 32 : code_of(x[16 * j + i] / s[j], -32, 31) + 32);
    }
}
