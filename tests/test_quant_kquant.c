/* test_quant_kquant.c — the K-quant super-blocks q4_k / q6_k (quant/ggml_pack.h).
 *
 * Without arguments: synthetic super-blocks in the canonical form (random
 * fp16 d / dmin including subnormal, negative (q6_k) and zero; sub-block
 * scales with the extreme at a random position; random codes) are packed,
 * and lb_ggml_dequantize_row must give lowbit's formula (quantizer.h: q4_k
 * s*q - m, q6_k s*(q - 32)) bit for bit; hand-checked bytes of one block of
 * each type; a scale that is not d*sc aborts in a child process.
 *
 * With `--synth OUTDIR` (used by test_quant_kquant_py.sh): writes, per type,
 * OUTDIR/<type>_synth.blocks and OUTDIR/<type>_synth.y (lowbit's values,
 * f32) so that gguf.quants.dequantize can be compared with them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autograd/tensor.h"
#include "harness.h"
#include "quant/ggml_pack.h"

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

static int write_file(const char *dir, const char *name, const char *ext, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        if (f) fclose(f);
        return 1;
    }
    return fclose(f) != 0;
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
        rc |= write_file(dir, name, "blocks", blocks, (size_t)(n / 256) * lb_ggml_block_bytes(fmts[t]));
        rc |= write_file(dir, name, "y", y, (size_t)n * 4);
    }
    free(codes), free(blocks), free(s), free(z), free(y);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--synth")) return synth_dump(argv[2]);
    LB_RUN(test_synth_roundtrip);
    LB_RUN(test_hand_bytes);
    LB_RUN(test_not_canonical_aborts);
    return lb_test_summary();
}
