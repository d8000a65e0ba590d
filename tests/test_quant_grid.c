/* test_quant_grid.c — every grid's codes, scales, zeros and fake-quant
 * output, from the quantizer (kernels/cpu/quant.c through lb_quantizer_run
 * and lb_fake_quant_weight), equal the scalar reference (quant/grid.c) bit
 * for bit, on random and adversarial weights: exact ties, saturation,
 * all-zero groups, tiny / subnormal / huge values. Also: dequantized values
 * are s * (q - z) with fp16-exact scales, hand-checked values of each grid,
 * and the user errors of lb_quantizer_init (NaN weights, group sizes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ctx.h"
#include "harness.h"
#include "quant/fakequant.h"
#include "quant/grid.h"
#include "quant/quantizer.h"

#define ROWS 6
#define COLS 256

static uint64_t rng_state = 12345;
static float urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) & 0xffffff) / 16777216.0f;
}

/* fill_case: the weight of case k (rows, cols): each row is a different
 * adversarial pattern. */
static void fill_case(int k, float *w, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        float *x = w + r * cols;
        int kind = (int)((k + r) % 9);
        for (int64_t c = 0; c < cols; c++) {
            float u = 2.0f * urand() - 1.0f;
            switch (kind) {
            case 0: x[c] = u; break;                                   /* uniform */
            case 1: x[c] = u * u * u * 3.0f; break;                    /* heavy centre */
            case 2: x[c] = (c % 64 < 32) ? 0.0f : u; break;           /* all-zero groups */
            case 3: x[c] = u * 1e-30f; break;                          /* tiny */
            case 4: x[c] = u * 1e-40f; break;                          /* subnormal */
            case 5: x[c] = (c % 7 == 0) ? 1e30f * u : u; break;        /* huge */
            case 6: x[c] = (float)((int)(u * 16.0f)) * 0.0625f + 0.03125f; break; /* ties */
            case 7: x[c] = u > 0.0f ? u : 0.0f; break;                 /* one-signed */
            default: x[c] = (c % 32 == 5) ? u * 100.0f : u * 0.01f; break; /* outliers */
            }
        }
    }
}

static bool same_bits(const float *a, const float *b, int64_t n, int64_t *at)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            *at = i;
            return false;
        }
    return true;
}

/* reference: the scalar grid over the whole weight, group by group. */
static void reference(const lb_quantizer *q, const float *w, uint8_t *codes, float *s, float *z,
                      float *out)
{
    const lb_qspec *sp = &q->spec;
    int64_t n = q->rows * q->cols;
    if (lb_qspec_is_ggml(sp)) {
        for (int64_t b = 0; b < n / 32; b++) {
            lb_grid_ggml_block(sp->format, w + 32 * b, codes + 32 * b, &s[b], &z[b]);
            lb_grid_dequantize(sp, codes + 32 * b, 32, s[b], z[b], out + 32 * b);
        }
        return;
    }
    if (sp->gran == LB_QG_TENSOR) {
        lb_grid_params(sp, w, n, &s[0], &z[0]);
        lb_grid_quantize(sp, w, n, s[0], z[0], codes);
        lb_grid_dequantize(sp, codes, n, s[0], z[0], out);
        return;
    }
    for (int64_t r = 0; r < q->rows; r++)
        for (int64_t g = 0; g < q->n_groups; g++) {
            int64_t k = r * q->n_groups + g, off = r * q->cols + g * q->group;
            lb_grid_params(sp, w + off, q->group, &s[k], &z[k]);
            lb_grid_quantize(sp, w + off, q->group, s[k], z[k], codes + off);
            lb_grid_dequantize(sp, codes + off, q->group, s[k], z[k], out + off);
        }
}

/* check_spec: quantizer vs reference on `cases` weights of (rows, cols). */
static void check_spec(lb_ctx *ctx, const char *text, int64_t rows, int64_t cols, int cases)
{
    lb_qspec sp;
    lb_status st = lb_qspec_parse(text, LB_QROLE_WEIGHT, &sp);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", text, st.msg);
    if (lb_failed(&st)) return;
    int64_t n = rows * cols;
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){rows, cols});
    uint8_t *c_k = malloc((size_t)n), *c_r = malloc((size_t)n);
    float *s_k = malloc((size_t)n * 4), *z_k = malloc((size_t)n * 4);
    float *s_r = malloc((size_t)n * 4), *z_r = malloc((size_t)n * 4), *o_r = malloc((size_t)n * 4);
    for (int k = 0; k < cases; k++) {
        fill_case(k, w->data, rows, cols);
        lb_quantizer q;
        st = lb_quantizer_init(&q, &sp, w, "layer.weight");
        LB_EXPECTF(!lb_failed(&st), "%s: init: %s", text, st.msg);
        if (lb_failed(&st)) break;
        int64_t ns = lb_tensor_numel(q.scales);
        lb_quantizer_codes(&q, w, c_k, s_k, z_k);
        lb_tensor *out = lb_fake_quant_weight(ctx, w, &q);
        reference(&q, w->data, c_r, s_r, z_r, o_r);
        int64_t at = 0;
        bool ok = memcmp(c_k, c_r, (size_t)n) == 0;
        for (at = 0; !ok && at < n && c_k[at] == c_r[at]; at++) {}
        LB_EXPECTF(ok, "%s case %d: code %lld: %d vs reference %d (w %g)", text, k, (long long)at,
                   ok ? 0 : c_k[at], ok ? 0 : c_r[at], ok ? 0.0 : (double)((float *)w->data)[at]);
        LB_EXPECTF(same_bits(s_k, s_r, ns, &at), "%s case %d: scale %lld: %g vs reference %g", text, k,
                   (long long)at, (double)s_k[at], (double)s_r[at]);
        LB_EXPECTF(same_bits(z_k, z_r, ns, &at), "%s case %d: zero %lld: %g vs reference %g", text, k,
                   (long long)at, (double)z_k[at], (double)z_r[at]);
        LB_EXPECTF(same_bits(out->data, o_r, n, &at), "%s case %d: w^ %lld: %g vs reference %g", text,
                   k, (long long)at, (double)((float *)out->data)[at], (double)o_r[at]);
        /* the forward stored what it used (non-learned) */
        if (!lb_qspec_learned(&sp))
            LB_EXPECTF(same_bits(q.scales->data, s_k, ns, &at), "%s: stored scales differ", text);
        /* fp16 scales are fp16-exact and w^ = s * (q - z) (or s*q + m, or s*value) */
        if (sp.scale_f16)
            for (int64_t i = 0; i < ns; i++)
                if (lb_f16_to_f32(lb_f32_to_f16(s_k[i])) != s_k[i] && isfinite(s_k[i])) {
                    LB_EXPECTF(0, "%s: scale %lld = %g is not an fp16 value", text, (long long)i,
                               (double)s_k[i]);
                    break;
                }
        for (int64_t i = 0; i < n && (sp.format == LB_QF_INT || sp.format == LB_QF_Q4_0); i++) {
            int64_t gk = sp.gran == LB_QG_TENSOR ? 0 : (i / cols) * q.n_groups + (i % cols) / q.group;
            float e = s_k[gk] * ((float)c_k[i] - z_k[gk]);
            if (memcmp(&e, &((float *)out->data)[i], 4) != 0 && !isnan(e)) {
                LB_EXPECTF(0, "%s: w^[%lld] = %g, s*(q-z) = %g", text, (long long)i,
                           (double)((float *)out->data)[i], (double)e);
                break;
            }
        }
        lb_quantizer_free(&q);
        lb_ctx_step_end(ctx);
    }
    lb_tensor_free(w);
    free(c_k), free(c_r), free(s_k), free(z_k), free(s_r), free(z_r), free(o_r);
}

static void test_int_grids(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    const char *gr[] = {"g32", "g64", "g128", "ch", "tensor"}, *sy[] = {"sym", "asym"};
    char text[64];
    for (int b = 2; b <= 8; b++)
        for (int g = 0; g < 5; g++)
            for (int y = 0; y < 2; y++) {
                snprintf(text, sizeof text, "int%d:%s:%s:minmax:f16", b, gr[g], sy[y]);
                check_spec(&ctx, text, ROWS, COLS, 9);
            }
    lb_ctx_free(&ctx);
}

static void test_int_modes(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    const char *specs[] = {"int4:g64:asym:mse", "int3:g32:sym:mse", "int2:ch:asym:mse:f32",
                           "int4:tensor:sym:mse", "int8:g128:asym:minmax:f32",
                           "int4:g64:asym:lsq", "int4:g32:sym:lsq", "int3:ch:asym:lsq+",
                           "int4:tensor:asym:lsq+"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) check_spec(&ctx, specs[i], ROWS, COLS, 9);
    lb_ctx_free(&ctx);
}

static void test_value_and_ggml_grids(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    const char *specs[] = {"nf4", "nf4:g32:f16", "fp4", "fp4:g64:f16", "fp8", "fp8:ch", "fp8:ch:f16",
                           "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) check_spec(&ctx, specs[i], ROWS, COLS, 9);
    lb_ctx_free(&ctx);
}

/* Over the OpenMP threshold (1M elements): parallel loops, same bits. */
static void test_large_parallel(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    const char *specs[] = {"int4", "int4:g32:sym:mse", "nf4", "fp8:ch", "q4_1", "q8_0"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) check_spec(&ctx, specs[i], 1024, 1024, 1);
    lb_ctx_free(&ctx);
}

/* Hand-checked numbers: the grids mean what grid.h says. */
static void test_known_values(void)
{
    lb_qspec sp;
    float s, z;
    uint8_t c[8];
    /* int4 asym on [0, 1.5]: s = 0.1, z = 0; 0.05 is a tie -> even (0) */
    lb_qspec_parse("int4", LB_QROLE_WEIGHT, &sp);
    float x[4] = {0.0f, 1.5f, 0.75f, -0.0f};
    lb_grid_params(&sp, x, 4, &s, &z);
    LB_EXPECTF(s == lb_f16_to_f32(lb_f32_to_f16(0.1f)) && z == 0.0f, "int4 [0,1.5]: s %g z %g",
               (double)s, (double)z);
    /* all-zero group: GPTQ's xmin=-1, xmax=1: s = fp16(2/15), z = round(7.5) = 8 */
    float zero[4] = {0};
    lb_grid_params(&sp, zero, 4, &s, &z);
    LB_EXPECTF(s == lb_f16_to_f32(lb_f32_to_f16(2.0f / 15.0f)) && z == 8.0f, "zero group: s %g z %g",
               (double)s, (double)z);
    /* ties to even: s = 1 exactly (int4 asym range [0, 15]) */
    float t[6] = {0.0f, 15.0f, 2.5f, 3.5f, 0.5f, 14.5f};
    lb_grid_params(&sp, t, 6, &s, &z);
    lb_grid_quantize(&sp, t, 6, s, z, c);
    LB_EXPECTF(s == 1.0f && c[2] == 2 && c[3] == 4 && c[4] == 0 && c[5] == 14,
               "ties: s %g codes %d %d %d %d", (double)s, c[2], c[3], c[4], c[5]);
    /* sym int4: max maps to 7.5 -> 8 -> +8 = 16 -> clamps to 15 (saturation) */
    lb_qspec_parse("int4:sym", LB_QROLE_WEIGHT, &sp);
    float m[2] = {-7.5f, 7.5f};
    lb_grid_params(&sp, m, 2, &s, &z);
    lb_grid_quantize(&sp, m, 2, s, z, c);
    LB_EXPECTF(s == 1.0f && z == 8.0f && c[0] == 0 && c[1] == 15, "sym: s %g z %g codes %d %d",
               (double)s, (double)z, c[0], c[1]);
    /* huge values: the fp16 scale saturates at 65504 */
    lb_qspec_parse("int8:ch", LB_QROLE_WEIGHT, &sp);
    float h[2] = {-1e30f, 1e30f};
    lb_grid_params(&sp, h, 2, &s, &z);
    lb_grid_quantize(&sp, h, 2, s, z, c);
    LB_EXPECTF(s == 65504.0f && c[0] == 0 && c[1] == 255, "huge: s %g codes %d %d", (double)s, c[0], c[1]);
    /* tiny values: the smallest fp16 scale, codes at z */
    float tiny[2] = {-1e-30f, 1e-30f};
    lb_grid_params(&sp, tiny, 2, &s, &z);
    lb_grid_quantize(&sp, tiny, 2, s, z, c);
    LB_EXPECTF(s == 0x1p-24f && c[0] == z && c[1] == z, "tiny: s %g z %g codes %d %d", (double)s,
               (double)z, c[0], c[1]);
    /* fp4: 5 (between 4 and 6) ties to 4 (even code), 2.5 to 2, 0.25 to 0 */
    lb_qspec_parse("fp4", LB_QROLE_WEIGHT, &sp);
    float f4[5] = {6.0f, 5.0f, 2.5f, -0.25f, -3.2f};
    lb_grid_params(&sp, f4, 5, &s, &z);
    lb_grid_quantize(&sp, f4, 5, s, z, c);
    LB_EXPECTF(s == 1.0f && c[0] == 7 && c[1] == 6 && c[2] == 4 && c[3] == 8 && c[4] == 13,
               "fp4: s %g codes %d %d %d %d %d", (double)s, c[0], c[1], c[2], c[3], c[4]);
    /* fp8 e4m3: 448 -> 0x7e, 1.0 -> 0x38, 2^-9 -> 0x01 */
    lb_qspec_parse("fp8", LB_QROLE_WEIGHT, &sp);
    float f8[4] = {448.0f, 1.0f, 0x1p-9f, -1.0625f};
    lb_grid_params(&sp, f8, 4, &s, &z);
    lb_grid_quantize(&sp, f8, 4, s, z, c);
    LB_EXPECTF(s == 1.0f && c[0] == 0x7e && c[1] == 0x38 && c[2] == 0x01 && c[3] == 0xb8,
               "fp8: s %g codes %x %x %x %x", (double)s, c[0], c[1], c[2], c[3]);
    /* nf4: 1 -> 15, -1 -> 0, 0 -> 7, 0.1 -> 8 (0.0796) */
    lb_qspec_parse("nf4", LB_QROLE_WEIGHT, &sp);
    float n4[4] = {1.0f, -1.0f, 0.0f, 0.1f};
    lb_grid_params(&sp, n4, 4, &s, &z);
    lb_grid_quantize(&sp, n4, 4, s, z, c);
    LB_EXPECTF(s == 1.0f && c[0] == 15 && c[1] == 0 && c[2] == 7 && c[3] == 8,
               "nf4: codes %d %d %d %d", c[0], c[1], c[2], c[3]);
    /* q4_0 on -16..15: the largest magnitude -16 = -8 d, so d = 2; 15 -> 16 -> clamps to 15 */
    float b[32];
    for (int i = 0; i < 32; i++) b[i] = (float)i - 16.0f;
    uint8_t bc[32];
    lb_grid_ggml_block(LB_QF_Q4_0, b, bc, &s, &z);
    LB_EXPECTF(s == 2.0f && z == 8.0f && bc[0] == 0 && bc[16] == 8 && bc[31] == 15,
               "q4_0: d %g codes %d %d %d", (double)s, bc[0], bc[16], bc[31]);
}

static void test_init_errors(void)
{
    lb_qspec sp;
    lb_quantizer q;
    lb_qspec_parse("int4:g128", LB_QROLE_WEIGHT, &sp);
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){4, 192});
    lb_status st = lb_quantizer_init(&q, &sp, w, "model.layers.3.mlp.up_proj.weight");
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "model.layers.3.mlp.up_proj.weight") &&
                   strstr(st.msg, "192") && strstr(st.msg, "128"),
               "group size: %s", st.msg);
    lb_qspec_parse("q4_0", LB_QROLE_WEIGHT, &sp);
    lb_tensor *w2 = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){4, 48});
    st = lb_quantizer_init(&q, &sp, w2, "blk.0.attn_q.weight");
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "blk.0.attn_q.weight") && strstr(st.msg, "32"),
               "ggml block: %s", st.msg);
    lb_qspec_parse("int4:ch", LB_QROLE_WEIGHT, &sp);
    ((float *)w->data)[2 * 192 + 7] = NAN;
    st = lb_quantizer_init(&q, &sp, w, "model.layers.0.self_attn.q_proj.weight");
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "model.layers.0.self_attn.q_proj.weight") &&
                   strstr(st.msg, "[2, 7]") && strstr(st.msg, "nan"),
               "NaN: %s", st.msg);
    ((float *)w->data)[2 * 192 + 7] = INFINITY;
    st = lb_quantizer_init(&q, &sp, w, "x.weight");
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "inf"), "Inf: %s", st.msg);
    lb_tensor_free(w);
    lb_tensor_free(w2);
}

int main(void)
{
    LB_RUN(test_known_values);
    LB_RUN(test_int_grids);
    LB_RUN(test_int_modes);
    LB_RUN(test_value_and_ggml_grids);
    LB_RUN(test_large_parallel);
    LB_RUN(test_init_errors);
    return lb_test_summary();
}
