/* test_quant_kquant.c — the K-quants q4_k / q6_k: spec, encoder, CPU
 * kernel, quantizer, STE backward and super-block bytes.
 *
 * Without arguments:
 *   - packing: synthetic super-blocks in the canonical form (random fp16 d /
 *     dmin including subnormal, negative (q6_k) and zero; sub-block scales
 *     with the extreme at a random position; random codes) are packed, and
 *     lb_ggml_dequantize_row must give lowbit's formula (quantizer.h: q4_k
 *     s*q - m, q6_k s*(q - 32)) bit for bit; hand-checked bytes of one
 *     block of each type; a scale that is not d*sc aborts (child process);
 *   - the encoder: the row-parallel kernel (through lb_quantizer_run, over
 *     and under the OpenMP threshold) against the scalar reference of
 *     quant/grid_k.c on random and adversarial rows (ties, all-zero
 *     super-blocks and sub-blocks, tiny, subnormal, huge, negative-only,
 *     positive-only, constant, outliers, signed zeros): codes, scales and
 *     zeros bit for bit, w^ = the formula, and the packed bytes dequantize to
 *     the forward exactly; the error is below q4_1's (q4_k) and q5_1's
 *     (q6_k) on normal weights (the search works);
 *   - spec strings, the 256 shape error, the straight-through backward.
 *
 * With `--synth OUTDIR` or `--dump IN.f32 ROWS COLS OUTDIR` (used by
 * test_quant_kquant_py.sh): writes, per type, the synthetic blocks and
 * values (<type>_synth.blocks / .y), or the fake-quant forward of the
 * weight and the blocks packed from lb_quantizer_codes (<type>.fq /
 * .blocks), so that gguf.quants.dequantize can be compared with them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autograd/ctx.h"
#include "autograd/tape.h"
#include "autograd/tensor.h"
#include "fixture.h"
#include "harness.h"
#include "quant/fakequant.h"
#include "quant/ggml_pack.h"
#include "quant/grid_k.h"

static uint64_t rng = 88172645463325252ULL;
static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* rand_f16: a random fp16 value of kind k: 0 normal in [2^-14, 2^4),
 * 1 subnormal, 2 zero, 3 large (up to 65504); negative when neg. */
static float rand_f16(int k, bool neg)
{
    uint16_t h;
    if (k == 0) h = (uint16_t)(((1 + next_u32() % 18) << 10) | (next_u32() & 1023));
    else if (k == 1) h = (uint16_t)(1 + next_u32() % 1023);
    else if (k == 2) h = 0;
    else h = (uint16_t)(((20 + next_u32() % 10) << 10) | (next_u32() & 1023));
    if (neg && h) h |= 0x8000;
    return lb_f16_to_f32(h);
}

/* synth_row: n/256 canonical super-blocks of type f: codes, s, z (per
 * sub-block, as lb_quantizer_codes writes them) and the values lowbit's
 * forward gives for them. */
static void synth_row(lb_qformat f, int64_t n, uint8_t *codes, float *s, float *z, float *y)
{
    int spb = lb_ggml_scales_per_block(f), sub = 256 / spb;
    for (int64_t b = 0; b < n / 256; b++) {
        int kind = (int)(next_u32() % 8), kd = kind < 5 ? 0 : kind - 4;   /* 0 mostly */
        bool zero_sc = next_u32() % 16 == 0;
        float d = zero_sc ? 0.0f : rand_f16(kd, f == LB_QF_Q6_K && (next_u32() & 1));
        float dmin = f == LB_QF_Q4_K ? rand_f16((int)(next_u32() % 4), false) : 0.0f;
        int top = (int)(next_u32() % (unsigned)spb), top_m = (int)(next_u32() % (unsigned)spb);
        for (int k = 0; k < spb; k++) {
            int64_t j = b * spb + k;
            if (f == LB_QF_Q4_K) {
                int sc = d == 0.0f ? 0 : k == top ? 63 : (int)(next_u32() % 64);
                int mn = dmin == 0.0f ? 0 : k == top_m ? 63 : (int)(next_u32() % 64);
                s[j] = d * (float)sc;
                z[j] = dmin * (float)mn;
            } else {
                int sc = d == 0.0f ? 0 : k == top ? -128 : (int)(next_u32() % 256) - 128;
                if (sc == -128 && k != top) sc = 127;
                s[j] = d * (float)sc;
                z[j] = 32.0f;
            }
            for (int i = 0; i < sub; i++) {
                int64_t e = j * sub + i;
                codes[e] = (uint8_t)(next_u32() % (f == LB_QF_Q4_K ? 16u : 64u));
                if (k % 5 == 3) codes[e] = f == LB_QF_Q4_K ? 0 : 32;   /* zero codes: signs of 0 */
                y[e] = f == LB_QF_Q4_K ? s[j] * (float)codes[e] - z[j] : s[j] * ((float)codes[e] - z[j]);
            }
        }
    }
}

static int64_t first_diff(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, 4) != 0 && !(isnan(a[i]) && isnan(b[i]))) return i;
    return -1;
}

static void test_synth_roundtrip(void)
{
    static const lb_qformat fmts[2] = {LB_QF_Q4_K, LB_QF_Q6_K};
    const int64_t n = 256 * 64;
    uint8_t *codes = malloc(n), *blocks = malloc(n);
    float *s = malloc(n * 4), *z = malloc(n * 4), *y = malloc(n * 4), *back = malloc(n * 4);
    for (int t = 0; t < 2; t++) {
        lb_qformat f = fmts[t];
        synth_row(f, n, codes, s, z, y);
        lb_ggml_pack_row(f, codes, s, z, n, blocks);
        lb_ggml_dequantize_row(f, blocks, n, back);
        int64_t at = first_diff(back, y, n);
        LB_EXPECTF(at < 0, "type %d: dequantized [%lld] %a, lowbit's formula %a", lb_ggml_type_id(f),
                   (long long)at, at < 0 ? 0.0 : (double)back[at], at < 0 ? 0.0 : (double)y[at]);
    }
    LB_EXPECT(lb_ggml_type_id(LB_QF_Q4_K) == 12 && lb_ggml_type_id(LB_QF_Q6_K) == 14);
    LB_EXPECT(lb_ggml_block_bytes(LB_QF_Q4_K) == 144 && lb_ggml_block_bytes(LB_QF_Q6_K) == 210);
    LB_EXPECT(lb_ggml_block_size(LB_QF_Q4_K) == 256 && lb_ggml_block_size(LB_QF_Q6_K) == 256 &&
              lb_ggml_block_size(LB_QF_Q8_0) == 32 && lb_ggml_block_size(LB_QF_INT) == 0);
    free(codes), free(blocks), free(s), free(z), free(y), free(back);
}

/* test_hand_bytes: one super-block of each type with known fields. */
static void test_hand_bytes(void)
{
    uint8_t codes[256], b[210];
    float s[16], z[16];
    /* q4_k: d = 0.5, dmin = 0.25; sc = 63, 1..7 (sub-block 0 largest),
     * mn = 0..6, 63; code of element e = e % 16 */
    for (int k = 0; k < 8; k++) {
        s[k] = 0.5f * (float)(k == 0 ? 63 : k);
        z[k] = 0.25f * (float)(k == 7 ? 63 : k);
    }
    for (int e = 0; e < 256; e++) codes[e] = (uint8_t)(e % 16);
    lb_ggml_pack_row(LB_QF_Q4_K, codes, s, z, 256, b);
    uint16_t d16 = lb_f32_to_f16(0.5f), m16 = lb_f32_to_f16(0.25f);
    LB_EXPECTF(b[0] == (d16 & 0xff) && b[1] == (d16 >> 8) && b[2] == (m16 & 0xff) && b[3] == (m16 >> 8),
               "q4_k d/dmin bytes %02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
    /* scales[0] = sc0 63 | (sc4 = 4 >> 4) << 6 = 63; scales[4] = mn0 0 |
     * (mn4 = 4 >> 4) << 6 = 0; scales[7] = mn3 3 | (mn7 = 63 >> 4 = 3) << 6
     * = 0xc3; scales[11] = sc7 & 15 = 7 | (mn7 & 15 = 15) << 4 = 0xf7 */
    LB_EXPECTF(b[4] == 63 && b[8] == 0 && b[4 + 7] == 0xc3 && b[4 + 11] == 0xf7,
               "q4_k scales %02x %02x %02x %02x", b[4], b[8], b[11], b[15]);
    /* qs[l] of chunk 0: low nibble element l, high element 32 + l */
    LB_EXPECTF(b[16] == 0x00 && b[17] == 0x11 && b[16 + 31] == 0xff, "q4_k qs %02x %02x %02x", b[16],
               b[17], b[47]);
    float y[256];
    lb_ggml_dequantize_row(LB_QF_Q4_K, b, 256, y);
    LB_EXPECTF(y[1] == 31.5f * 1.0f - 0.0f && y[32 + 2] == 0.5f * 2.0f - 0.25f &&
                   y[255] == 3.5f * 15.0f - 15.75f,
               "q4_k values %g %g %g", (double)y[1], (double)y[34], (double)y[255]);

    /* q6_k: d = -0.125, sc[k] = -128 for k = 5, else k - 8; codes e % 64 */
    for (int k = 0; k < 16; k++) {
        s[k] = -0.125f * (float)(k == 5 ? -128 : k - 8);
        z[k] = 32.0f;
    }
    for (int e = 0; e < 256; e++) codes[e] = (uint8_t)(e % 64);
    lb_ggml_pack_row(LB_QF_Q6_K, codes, s, z, 256, b);
    uint16_t dn = lb_f32_to_f16(-0.125f);
    LB_EXPECTF(b[208] == (dn & 0xff) && b[209] == (dn >> 8) && (int8_t)b[192 + 5] == -128 &&
                   (int8_t)b[192] == -8 && (int8_t)b[192 + 15] == 7,
               "q6_k d %02x%02x scales %d %d %d", b[209], b[208], (int8_t)b[197], (int8_t)b[192],
               (int8_t)b[207]);
    /* element 1: code 1 -> ql[1] low nibble 1, qh[1] bits 0-1 = 0;
     * element 64 + 1: code 1 -> ql[1] high nibble 1; element 32 + 1:
     * code 33 -> ql[33] low 1, qh[1] bits 2-3 = 2 */
    LB_EXPECTF(b[1] == 0x11 && b[33] == 0x11 && (b[128 + 1] & 0x0f) == 0x08, "q6_k ql %02x %02x qh %02x",
               b[1], b[33], b[129]);
    lb_ggml_dequantize_row(LB_QF_Q6_K, b, 256, y);
    LB_EXPECTF(y[0] == 1.0f * -32.0f && y[80] == (-0.125f * -128.0f) * (16.0f - 32.0f),
               "q6_k values %g %g", (double)y[0], (double)y[80]);
}

/* test_not_canonical_aborts: scales that no fp16 d times an integer sc
 * gives are a broken invariant: pack aborts (checked in a child). */
static void test_not_canonical_aborts(void)
{
    uint8_t codes[256] = {0}, b[210];
    float s[16], z[16];
    for (int k = 0; k < 8; k++) s[k] = 0.1f * (float)k, z[k] = 0.0f;   /* 0.7 is not 63*d */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(0);
        lb_ggml_pack_row(LB_QF_Q4_K, codes, s, z, 256, b);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    LB_EXPECTF(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
               "packing non-canonical q4_k scales did not abort");
}

/* ---- the encoder: kernel vs reference ------------------------------------------- */

/* fill_row: weight pattern `kind` for one row of n (a multiple of 256). */
static void fill_row(int kind, float *x, int64_t n)
{
    for (int64_t c = 0; c < n; c++) {
        float u = (float)(next_u32() % 2000001u) / 1000000.0f - 1.0f;   /* [-1, 1] */
        switch (kind) {
        case 0: x[c] = u * 0.05f; break;
        case 1: x[c] = (c / 256) % 2 ? 0.0f : u; break;                /* all-zero super-blocks */
        case 2: x[c] = (c % 64 < 32) ? 0.0f : u; break;                /* all-zero sub-blocks */
        case 3: x[c] = -fabsf(u); break;                               /* negative only */
        case 4: x[c] = fabsf(u) + 0.5f; break;                         /* positive only, min > 0 */
        case 5: x[c] = u * 1e-30f; break;                              /* tiny */
        case 6: x[c] = u * 1e-40f; break;                              /* subnormal */
        case 7: x[c] = (c % 97 == 0) ? u * 3e6f : u; break;            /* huge: fp16 d saturates */
        case 8: x[c] = (float)((int)(u * 16.0f)) * 0.125f + 0.0625f; break;   /* ties */
        case 9: x[c] = (c % 16 < 8) ? -0.25f : 0.25f; break;           /* constant halves */
        case 10: x[c] = (c % 32 == 5) ? u * 100.0f : u * 0.01f; break; /* outliers */
        case 11: x[c] = (c % 3 == 0) ? -0.0f : (c % 3 == 1 ? 0.0f : u * 1e-3f); break;
        case 12: x[c] = u * 60000.0f; break;                           /* near the fp16 limit */
        case 13: x[c] = (c % 32 == 0) ? -3.0f : -3.0f + 0.0f * u; break;    /* constant negative */
        case 14: x[c] = u * 1e-20f * (float)(1 + c % 7); break;        /* x*x underflows */
        default: x[c] = u * u * u; break;
        }
    }
}
#define N_KINDS 16

/* check_encoder: lb_quantizer_run of spec on a (rows, cols) weight of
 * mixed patterns against the reference, block by block. */
static void check_encoder(const char *spec, int64_t rows, int64_t cols)
{
    lb_qspec sp;
    lb_status st = lb_qspec_parse(spec, LB_QROLE_WEIGHT, &sp);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    int64_t n = rows * cols, spb = lb_ggml_scales_per_block(sp.format), ns = n / 256 * spb;
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){rows, cols});
    float *x = w->data;
    for (int64_t r = 0; r < rows; r++) fill_row((int)(r % N_KINDS), x + r * cols, cols);
    lb_quantizer q;
    st = lb_quantizer_init(&q, &sp, w, "enc.weight");
    LB_EXPECTF(!lb_failed(&st), "%s: %s", spec, st.msg);
    if (lb_failed(&st)) return;
    LB_EXPECTF(q.n_groups * q.rows == ns && q.group == 256 / spb, "%s: state %lld x %lld, group %lld",
               spec, (long long)q.rows, (long long)q.n_groups, (long long)q.group);
    float *out = malloc((size_t)n * 4), *s = malloc((size_t)ns * 4), *z = malloc((size_t)ns * 4);
    float *rs = malloc((size_t)ns * 4), *rz = malloc((size_t)ns * 4), *back = malloc((size_t)n * 4);
    uint8_t *codes = malloc((size_t)n), *rc = malloc((size_t)n), *blocks = malloc((size_t)n);
    uint8_t *rblocks = malloc((size_t)n);
    lb_quantizer_run(&q, x, s, z, out, codes);
    int bad = 0;
    for (int64_t b = 0; b < n / 256 && bad < 3; b++) {
        float rm[8];
        if (sp.format == LB_QF_Q4_K) lb_grid_q4k_block(x + 256 * b, rc + 256 * b, rs + 8 * b, rm);
        else lb_grid_q6k_block(x + 256 * b, rc + 256 * b, rs + 16 * b);
        for (int k = 0; k < spb; k++) {
            int64_t j = b * spb + k;
            float want_z = sp.format == LB_QF_Q4_K ? rm[k] : 32.0f;
            rz[j] = want_z;
            if (memcmp(&s[j], &rs[j], 4) || memcmp(&z[j], &want_z, 4)) {
                lb_test_fail(__FILE__, __LINE__, "%s block %lld sub %d: kernel s %a z %a, reference %a %a",
                             spec, (long long)b, k, (double)s[j], (double)z[j], (double)rs[j], (double)want_z);
                bad++;
            }
        }
        for (int e = 0; e < 256; e++) {
            int64_t i = 256 * b + e, j = b * spb + e / (256 / spb);
            float want = sp.format == LB_QF_Q4_K ? s[j] * (float)codes[i] - z[j]
                                                 : s[j] * ((float)codes[i] - 32.0f);
            if (codes[i] != rc[i] || memcmp(&out[i], &want, 4)) {
                lb_test_fail(__FILE__, __LINE__, "%s [%lld]: code %d (reference %d), w^ %a vs %a, w %a",
                             spec, (long long)i, codes[i], rc[i], (double)out[i], (double)want, (double)x[i]);
                bad++;
                break;
            }
        }
    }
    /* export: bytes from lb_quantizer_codes are the reference's bytes and
     * dequantize to the forward */
    lb_quantizer_codes(&q, w, codes, s, z);
    size_t rb = (size_t)(cols / 256) * lb_ggml_block_bytes(sp.format);
    for (int64_t r = 0; r < rows; r++) {
        int64_t o = r * (ns / rows);
        lb_ggml_pack_row(sp.format, codes + r * cols, s + o, z + o, cols, blocks + (size_t)r * rb);
        if (bad == 0)
            lb_ggml_pack_row(sp.format, rc + r * cols, rs + o, rz + o, cols, rblocks + (size_t)r * rb);
    }
    LB_EXPECTF(bad || memcmp(blocks, rblocks, (size_t)rows * rb) == 0,
               "%s: packed bytes differ from the reference's", spec);
    lb_ggml_dequantize_row(sp.format, blocks, n, back);
    int64_t at = first_diff(back, out, n);
    LB_EXPECTF(at < 0, "%s (%lld, %lld): unpacked [%lld] %a vs forward %a", spec, (long long)rows,
               (long long)cols, (long long)at, at < 0 ? 0.0 : (double)back[at], at < 0 ? 0.0 : (double)out[at]);
    lb_quantizer_free(&q);
    lb_tensor_free(w);
    free(out), free(s), free(z), free(rs), free(rz), free(back), free(codes), free(rc), free(blocks);
    free(rblocks);
}

static void test_encoder_vs_reference(void)
{
    check_encoder("q4_k", 48, 512);
    check_encoder("q6_k", 48, 512);
    check_encoder("q4_k", 3, 256);
    check_encoder("q6_k", 1, 256);
    check_encoder("q4_k", 1024, 1024);   /* over the OpenMP threshold */
    check_encoder("q6_k", 512, 2048);
}

/* rmse: of spec's forward on w against w. */
static double rmse(lb_ctx *ctx, const char *spec, lb_tensor *w)
{
    lb_qspec sp;
    lb_quantizer q;
    lb_qspec_parse(spec, LB_QROLE_WEIGHT, &sp);
    lb_status st = lb_quantizer_init(&q, &sp, w, "rmse.weight");
    LB_CHECK(!lb_failed(&st));
    lb_tensor *o = lb_fake_quant_weight(ctx, w, &q);
    const float *a = w->data, *b = o->data;
    double e = 0.0;
    int64_t n = lb_tensor_numel(w);
    for (int64_t i = 0; i < n; i++) e += ((double)b[i] - a[i]) * ((double)b[i] - a[i]);
    lb_quantizer_free(&q);
    lb_ctx_step_end(ctx);
    return sqrt(e / (double)n);
}

/* test_quality: the K-quant search beats the min-max block formats of the
 * same or more bits on normal weights (as in llama.cpp's perplexity
 * tables), and q6_k is far finer than q4_k. */
static void test_quality(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){64, 1024});
    float *x = w->data;
    for (int64_t i = 0; i < 64 * 1024; i += 2) {   /* Box-Muller normals, sigma 0.02 */
        double u1 = ((double)(next_u32() % 1000000u) + 0.5) / 1e6, u2 = (double)(next_u32() % 1000000u) / 1e6;
        double r = sqrt(-2.0 * log(u1)) * 0.02;
        x[i] = (float)(r * cos(6.283185307179586 * u2));
        x[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
    double e4k = rmse(&ctx, "q4_k", w), e41 = rmse(&ctx, "q4_1", w), e6k = rmse(&ctx, "q6_k", w);
    double e51 = rmse(&ctx, "q5_1", w);
    printf("  rmse on N(0, 0.02^2): q4_1 %.3e  q4_k %.3e  q5_1 %.3e  q6_k %.3e\n", e41, e4k, e51, e6k);
    LB_EXPECTF(e4k < e41, "q4_k rmse %g not below q4_1's %g", e4k, e41);
    LB_EXPECTF(e6k < e51 && e6k < 0.3 * e4k, "q6_k rmse %g (q5_1 %g, q4_k %g)", e6k, e51, e4k);
    lb_tensor_free(w);
    lb_ctx_free(&ctx);
}

/* ---- spec, shape errors, backward ------------------------------------------------- */

static void test_spec_and_shape(void)
{
    const char *names[2] = {"q4_k", "q6_k"};
    for (int t = 0; t < 2; t++) {
        lb_qspec sp;
        char buf[LB_QSPEC_STR_MAX];
        lb_status st = lb_qspec_parse(names[t], LB_QROLE_WEIGHT, &sp);
        LB_EXPECTF(!lb_failed(&st) && lb_qspec_is_kquant(&sp) && lb_qspec_is_ggml(&sp) &&
                       !strcmp(lb_qspec_format(&sp, buf, sizeof buf), names[t]),
                   "%s parses and prints back", names[t]);
        LB_EXPECT(sp.group == (t ? 16 : 32) && lb_qspec_maxq(&sp) == (t ? 63 : 15));
        char bad[16];
        snprintf(bad, sizeof bad, "%s:g32", names[t]);
        st = lb_qspec_parse(bad, LB_QROLE_WEIGHT, &sp);
        LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "take no fields"), "%s: %s", bad, st.msg);
        st = lb_qspec_parse(names[t], LB_QROLE_ACT, &sp);
        LB_EXPECTF(lb_failed(&st), "%s is not an activation spec", names[t]);
    }
    lb_qspec sp;
    lb_status st = lb_qspec_parse("q5_k", LB_QROLE_WEIGHT, &sp);
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "q4_k, q6_k"), "q5_k: %s", st.msg);
    /* in = 288: a multiple of 32 but not of 256 */
    lb_qspec_parse("q6_k", LB_QROLE_WEIGHT, &sp);
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){4, 288});
    lb_quantizer q;
    st = lb_quantizer_init(&q, &sp, w, "model.layers.3.mlp.down_proj.weight");
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "model.layers.3.mlp.down_proj.weight") &&
                   strstr(st.msg, "(4, 288)") && strstr(st.msg, "256"),
               "shape error: %s", st.msg);
    lb_tensor_free(w);
}

/* test_ste: the backward passes dW^ straight through to dW (accumulating
 * into a preseeded grad), for both types, CPU. */
static void test_ste(void)
{
    const char *names[2] = {"q4_k", "q6_k"};
    for (int t = 0; t < 2; t++) {
        lb_ctx ctx;
        lb_ctx_init(&ctx, LB_CPU);
        int64_t R = 5, C = 512, n = R * C;
        lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){R, C});
        for (int64_t r = 0; r < R; r++) fill_row((int)r * 3, (float *)w->data + r * C, C);
        w->requires_grad = true;
        lb_qspec sp;
        lb_quantizer q;
        lb_qspec_parse(names[t], LB_QROLE_WEIGHT, &sp);
        lb_status st = lb_quantizer_init(&q, &sp, w, "ste.weight");
        LB_CHECK(!lb_failed(&st));
        lb_tensor *o = lb_fake_quant_weight(&ctx, w, &q);
        float *g0 = lb_grad_of(&ctx, w)->data;   /* preseeded: the backward accumulates */
        for (int64_t i = 0; i < n; i++) g0[i] = 0.25f;
        float *d = lb_grad_of(&ctx, o)->data;
        lb_test_rand(d, n, 5 + t, -1.0f, 1.0f);
        for (lb_node *nd = ctx.tape; nd; nd = nd->prev)
            if (nd->out->grad) nd->backward(&ctx, nd);
        const float *g = w->grad->data;
        int64_t at = -1;
        for (int64_t i = 0; i < n && at < 0; i++)
            if (g[i] != 0.25f + d[i]) at = i;
        LB_EXPECTF(at < 0, "%s: dW [%lld] %g, want 0.25 + %g", names[t], (long long)at,
                   at < 0 ? 0.0 : (double)g[at], at < 0 ? 0.0 : (double)d[at]);
        lb_quantizer_free(&q);
        lb_tensor_free(w);
        lb_ctx_free(&ctx);
    }
}

static int synth_dump(const char *dir)
{
    static const lb_qformat fmts[2] = {LB_QF_Q4_K, LB_QF_Q6_K};
    static const char *names[2] = {"q4_k", "q6_k"};
    const int64_t n = 256 * 512;
    uint8_t *codes = malloc(n), *blocks = malloc(n);
    float *s = malloc(n * 4), *z = malloc(n * 4), *y = malloc(n * 4);
    int rc = 0;
    for (int t = 0; t < 2 && !rc; t++) {
        synth_row(fmts[t], n, codes, s, z, y);
        lb_ggml_pack_row(fmts[t], codes, s, z, n, blocks);
        char name[32];
        snprintf(name, sizeof name, "%s_synth", names[t]);
        rc |= lb_test_write_file(dir, name, "blocks", blocks, (size_t)(n / 256) * lb_ggml_block_bytes(fmts[t]));
        rc |= lb_test_write_file(dir, name, "y", y, (size_t)n * 4);
    }
    free(codes), free(blocks), free(s), free(z), free(y);
    return rc;
}

static int dump(const char *in, int64_t R, int64_t C, const char *dir)
{
    static const char *names[2] = {"q4_k", "q6_k"};
    int64_t n = R * C;
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){R, C});
    FILE *f = fopen(in, "rb");
    if (!f || fread(w->data, sizeof(float), (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %lld floats from %s\n", (long long)n, in);
        if (f) fclose(f);
        return 1;
    }
    fclose(f);
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    float *s = malloc((size_t)n * 4), *z = malloc((size_t)n * 4);
    uint8_t *codes = malloc((size_t)n), *blocks = malloc((size_t)n);
    int rc = 0;
    for (int t = 0; t < 2 && !rc; t++) {
        lb_qspec sp;
        lb_quantizer q;
        lb_qspec_parse(names[t], LB_QROLE_WEIGHT, &sp);
        lb_status st = lb_quantizer_init(&q, &sp, w, "dump.weight");
        if (lb_failed(&st)) {
            fprintf(stderr, "%s\n", st.msg);
            rc = 1;
            break;
        }
        lb_tensor *o = lb_fake_quant_weight(&ctx, w, &q);
        lb_quantizer_codes(&q, w, codes, s, z);
        int64_t G = q.n_groups;
        size_t rb = (size_t)(C / 256) * lb_ggml_block_bytes(sp.format);
        for (int64_t r = 0; r < R; r++)
            lb_ggml_pack_row(sp.format, codes + r * C, s + r * G, z + r * G, C, blocks + (size_t)r * rb);
        rc |= lb_test_write_file(dir, names[t], "blocks", blocks, (size_t)R * rb);
        rc |= lb_test_write_file(dir, names[t], "fq", o->data, (size_t)n * 4);
        lb_quantizer_free(&q);
        lb_ctx_step_end(&ctx);
    }
    lb_ctx_free(&ctx);
    lb_tensor_free(w);
    free(s), free(z), free(codes), free(blocks);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--synth")) return synth_dump(argv[2]);
    if (argc == 6 && !strcmp(argv[1], "--dump"))
        return dump(argv[2], strtoll(argv[3], NULL, 10), strtoll(argv[4], NULL, 10), argv[5]);
    LB_RUN(test_synth_roundtrip);
    LB_RUN(test_hand_bytes);
    LB_RUN(test_not_canonical_aborts);
    LB_RUN(test_encoder_vs_reference);
    LB_RUN(test_quality);
    LB_RUN(test_spec_and_shape);
    LB_RUN(test_ste);
    return lb_test_summary();
}
