/* test_quant_ggml.c — the ggml presets' block bytes (quant/ggml_pack.h).
 *
 * Without arguments: packing the quantizer's codes and unpacking them with
 * ggml's dequantize formulas gives the fake-quant forward bit for bit, on
 * every preset, with hand-checked bytes for one block of each.
 *
 * With `--dump IN.f32 ROWS COLS OUTDIR` (used by test_quant_py.sh): reads a
 * (ROWS, COLS) f32 weight and writes, per preset, OUTDIR/<preset>.blocks
 * (the packed bytes) and OUTDIR/<preset>.fq (the fake-quant forward, f32),
 * and per int spec of the list below OUTDIR/<spec>.fq, so that the gguf
 * package and a numpy min-max implementation can be compared with them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ctx.h"
#include "fixture.h"
#include "harness.h"
#include "quant/fakequant.h"
#include "quant/ggml_pack.h"

static const char *presets[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};

/* The int specs the numpy reference re-implements (test_quant_py.sh). */
static const char *int_specs[] = {
    "int2:g32:sym:minmax:f16",  "int2:g32:asym:minmax:f16", "int3:g64:sym:minmax:f16",
    "int3:ch:asym:minmax:f16",  "int4:g128:asym:minmax:f16", "int4:g128:sym:minmax:f16",
    "int4:g32:asym:minmax:f16", "int4:ch:sym:minmax:f16",    "int4:tensor:asym:minmax:f16",
    "int5:g64:asym:minmax:f16", "int6:g32:sym:minmax:f16",   "int7:ch:asym:minmax:f16",
    "int8:g128:sym:minmax:f16", "int8:tensor:sym:minmax:f16", "int8:g32:asym:minmax:f32",
    "int4:g64:sym:minmax:f32",
};

/* fake_quant: the forward and the export of spec on w. */
static lb_status fake_quant(lb_ctx *ctx, const char *spec, lb_tensor *w, float *fq, uint8_t *codes,
                            float *s, float *z)
{
    lb_qspec sp;
    lb_quantizer q;
    LB_TRY(lb_qspec_parse(spec, LB_QROLE_WEIGHT, &sp));
    LB_TRY(lb_quantizer_init(&q, &sp, w, "dump.weight"));
    lb_tensor *out = lb_fake_quant_weight(ctx, w, &q);
    memcpy(fq, out->data, (size_t)lb_tensor_numel(w) * sizeof(float));
    if (codes) lb_quantizer_codes(&q, w, codes, s, z);
    lb_quantizer_free(&q);
    lb_ctx_step_end(ctx);
    return lb_ok();
}

static void test_pack_roundtrip(void)
{
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    int64_t R = 8, C = 256, n = R * C;
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){R, C});
    lb_test_rand(w->data, n, 42, -2.0f, 2.0f);
    float *fq = malloc((size_t)n * 4), *y = malloc((size_t)n * 4), *s = malloc((size_t)n), *z = malloc((size_t)n);
    uint8_t *codes = malloc((size_t)n), *blocks = malloc((size_t)n * 2);
    for (int p = 0; p < 5; p++) {
        lb_qspec sp;
        lb_qspec_parse(presets[p], LB_QROLE_WEIGHT, &sp);
        lb_status st = fake_quant(&ctx, presets[p], w, fq, codes, s, z);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        size_t bb = lb_ggml_block_bytes(sp.format);
        for (int64_t r = 0; r < R; r++)
            lb_ggml_pack_row(sp.format, codes + r * C, s + r * (C / 32), z + r * (C / 32), C,
                             blocks + (size_t)r * (size_t)(C / 32) * bb);
        lb_ggml_dequantize_row(sp.format, blocks, n, y);
        LB_EXPECTF(memcmp(y, fq, (size_t)n * 4) == 0, "%s: unpacked blocks differ from the forward",
                   presets[p]);
    }
    /* one hand-checked block: q8_0 of 0..31 - 16 -> amax 16, d = 16/127 */
    float b[32];
    for (int i = 0; i < 32; i++) b[i] = (float)i - 16.0f;
    lb_tensor *wb = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){1, 32});
    memcpy(wb->data, b, sizeof b);
    fake_quant(&ctx, "q8_0", wb, fq, codes, s, z);
    lb_ggml_pack_row(LB_QF_Q8_0, codes, s, z, 32, blocks);
    uint16_t d16 = lb_f32_to_f16(16.0f / 127.0f);
    LB_EXPECTF(blocks[0] == (d16 & 0xff) && blocks[1] == (d16 >> 8) && (int8_t)blocks[2] == -127 &&
                   (int8_t)blocks[2 + 16] == 0 && (int8_t)blocks[2 + 31] == 119,
               "q8_0 bytes %02x %02x %d %d %d", blocks[0], blocks[1], (int8_t)blocks[2],
               (int8_t)blocks[18], (int8_t)blocks[33]);
    /* q5_0 of the same: d = -16/-16 = 1, codes x + 16.5 truncated, bit 4 in qh */
    fake_quant(&ctx, "q5_0", wb, fq, codes, s, z);
    lb_ggml_pack_row(LB_QF_Q5_0, codes, s, z, 32, blocks);
    uint32_t qh = (uint32_t)blocks[2] | (uint32_t)blocks[3] << 8 | (uint32_t)blocks[4] << 16 |
                  (uint32_t)blocks[5] << 24;
    LB_EXPECTF(s[0] == 1.0f && qh == 0xffff0000u && blocks[6] == 0x00 && blocks[6 + 15] == 0xff,
               "q5_0: d %g qh %08x qs0 %02x qs15 %02x", (double)s[0], qh, blocks[6], blocks[21]);
    LB_EXPECT(lb_ggml_type_id(LB_QF_Q5_1) == 7 && lb_ggml_block_bytes(LB_QF_Q4_1) == 20);
    lb_tensor_free(w);
    lb_tensor_free(wb);
    free(fq), free(y), free(s), free(z), free(codes), free(blocks);
    lb_ctx_free(&ctx);
}

static int dump(const char *in, int64_t R, int64_t C, const char *dir)
{
    int64_t n = R * C;
    lb_tensor *w = lb_tensor_alloc(LB_F32, 2, (const int64_t[]){R, C});
    FILE *f = fopen(in, "rb");
    if (!f || fread(w->data, sizeof(float), (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %lld floats from %s\n", (long long)n, in);
        return 1;
    }
    fclose(f);
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    float *fq = malloc((size_t)n * 4), *s = malloc((size_t)n * 4), *z = malloc((size_t)n * 4);
    uint8_t *codes = malloc((size_t)n), *blocks = malloc((size_t)n * 2);
    int rc = 0;
    for (int p = 0; p < 5 && !rc; p++) {
        lb_qspec sp;
        lb_qspec_parse(presets[p], LB_QROLE_WEIGHT, &sp);
        lb_status st = fake_quant(&ctx, presets[p], w, fq, codes, s, z);
        if (lb_failed(&st)) {
            fprintf(stderr, "%s\n", st.msg);
            return 1;
        }
        size_t bb = lb_ggml_block_bytes(sp.format), nbytes = (size_t)(n / 32) * bb;
        lb_ggml_pack_row(sp.format, codes, s, z, n, blocks);   /* rows are whole blocks */
        rc |= lb_test_write_file(dir, presets[p], "blocks", blocks, nbytes);
        rc |= lb_test_write_file(dir, presets[p], "fq", fq, (size_t)n * 4);
    }
    for (size_t k = 0; k < sizeof int_specs / sizeof *int_specs && !rc; k++) {
        lb_status st = fake_quant(&ctx, int_specs[k], w, fq, NULL, NULL, NULL);
        if (lb_failed(&st)) {
            fprintf(stderr, "%s\n", st.msg);
            return 1;
        }
        rc |= lb_test_write_file(dir, int_specs[k], "fq", fq, (size_t)n * 4);
    }
    lb_ctx_free(&ctx);
    lb_tensor_free(w);
    free(fq), free(s), free(z), free(codes), free(blocks);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "--dump"))
        return dump(argv[2], strtoll(argv[3], NULL, 10), strtoll(argv[4], NULL, 10), argv[5]);
    LB_RUN(test_pack_roundtrip);
    return lb_test_summary();
}
