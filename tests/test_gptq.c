/* test_gptq.c — GPTQ export and reading (quant/gptq.h): the bit layout of
 * FORMATS.md §3.2/§3.3 against a literal transcription of its text, the
 * round trip of every int grid GPTQ holds (2/3/4/8 bits, sym/asym, g32,
 * g64, per channel, per tensor; llama and gpt2): codes, scales and zeros
 * read back bit-identical with lb_quantizer_codes and the decoded weights
 * equal to the forward's w^ exactly; v1's zero-0 refusal and v2; refusals
 * of specs GPTQ cannot hold; files whose config disagrees with the tensors;
 * config keys as the tools spell them; shards; the hf export read back.
 * Loading whole models: test_gptq_load.c. Runs from tests/.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"
#include "layers/checkpoint.h"
#include "layers/fileio.h"
#include "quant/export_hf.h"
#include "quant/gptq.h"
#include "quant/quantizer.h"
#include "train/run_quant.h"

static char g_tmp[256];

/* ref_pack: FORMATS §3.2 written out literally, one 32-value run (b = 3)
 * or one word (b = 2, 4, 8) at a time. */
static void ref_pack(const uint32_t *v, int64_t n, int b, uint32_t *w)
{
    if (b != 3) {
        int f = 32 / b;
        for (int64_t r = 0; r < n / f; r++) {
            w[r] = 0;
            for (int t = 0; t < f; t++) w[r] |= v[r * f + t] << (t * b);
        }
        return;
    }
    for (int64_t m = 0; m < n / 32; m++) {
        const uint32_t *x = v + 32 * m;
        uint32_t *o = w + 3 * m;
        o[0] = (x[10] & 3u) << 30;
        o[1] = ((x[10] >> 2) & 1u) | ((x[21] & 1u) << 31);
        o[2] = (x[21] >> 1) & 3u;
        for (int t = 0; t < 10; t++) {
            o[0] |= x[t] << (3 * t);
            o[1] |= x[11 + t] << (3 * t + 1);
            o[2] |= x[22 + t] << (3 * t + 2);
        }
    }
}

static void test_pack_layout(void)
{
    const int bits[] = {2, 3, 4, 8};
    for (int bi = 0; bi < 4; bi++) {
        int b = bits[bi];
        int64_t n = 96;   /* three 3-bit runs; whole words for every width */
        uint32_t v[96], ref[96], back;
        int32_t vals[96], words[96];
        uint64_t x = 0x9e3779b97f4a7c15ull + (uint64_t)b;
        for (int64_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v[i] = (uint32_t)(x % (1u << b));
            vals[i] = (int32_t)v[i];
        }
        v[10] = vals[10] = (1 << b) - 1;   /* the values that cross words (b = 3) all ones */
        v[21] = vals[21] = (1 << b) - 1;
        ref_pack(v, n, b, ref);
        lb_gptq_pack(vals, 1, n, b, words, 1);
        LB_EXPECTF(!memcmp(ref, words, (size_t)(n * b / 32) * 4), "%d-bit packing differs from FORMATS §3.2", b);
        for (int64_t i = 0; i < n; i++) {
            back = lb_gptq_field(words, 1, i, b);
            LB_EXPECTF(back == v[i], "%d-bit value %lld: %u, packed %u", b, (long long)i, back, v[i]);
        }
    }
    /* symmetric 4-bit v1 zeros: 8 - 1 in every nibble (FORMATS §3.4) */
    int32_t z[8] = {7, 7, 7, 7, 7, 7, 7, 7}, w;
    lb_gptq_pack(z, 1, 8, 4, &w, 1);
    LB_EXPECT((uint32_t)w == 0x77777777u);
}

static bool make_model(lb_model *m, lb_arch arch, const char *wq, uint64_t seed)
{
    lb_model_config c = lb_test_gptq_config(arch);
    lb_status st = lb_model_init_random(m, &c, seed);
    if (!lb_failed(&st) && wq) st = lb_run_quant_attach(NULL, m, wq, NULL, "all", false);
    LB_EXPECTF(!lb_failed(&st), "model %s: %s", wq ? wq : "-", st.msg);
    return !lb_failed(&st);
}

/* check_layer: linear (b, id) of m read back from dir: parts bit-identical
 * with the quantizer's, decode equal to w^. */
static void check_layer(const lb_model *m, const lb_ckpt *ck, const lb_gptq_config *cfg, const char *dir,
                        const lb_quantizer *q, const lb_tensor *w, const char *name, const char *spec)
{
    int64_t N = w->shape[0], K = w->shape[1];
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(name) - 7), name);
    lb_packed *p = NULL;
    lb_status st = lb_gptq_packed_load(ck, dir, cfg, prefix, N, K, &p);
    LB_EXPECTF(!lb_failed(&st), "%s %s: %s", spec, prefix, st.msg);
    if (lb_failed(&st)) return;
    int64_t G = cfg->group_size > 0 ? K / cfg->group_size : 1;
    bool tensor = q->spec.gran == LB_QG_TENSOR;
    int64_t ns = tensor ? 1 : N * G;
    uint8_t *c0 = malloc((size_t)(N * K)), *c1 = malloc((size_t)(N * K));
    float *s0 = malloc((size_t)ns * 4), *z0 = malloc((size_t)ns * 4), *s1 = malloc((size_t)(N * G) * 4),
          *z1 = malloc((size_t)(N * G) * 4), *ref = malloc((size_t)(N * K) * 4), *dec = malloc((size_t)(N * K) * 4);
    lb_quantizer_codes(q, w, c0, s0, z0);
    lb_gptq_codes(p, c1, s1, z1);
    LB_EXPECTF(!memcmp(c0, c1, (size_t)(N * K)), "%s %s: codes differ", spec, prefix);
    for (int64_t i = 0; i < N * G; i++) {
        int64_t j = tensor ? 0 : i;
        LB_EXPECTF(!memcmp(&s0[j], &s1[i], 4) && z0[j] == z1[i], "%s %s: scale/zero %lld: %g/%g read %g/%g", spec,
                   prefix, (long long)i, (double)s0[j], (double)z0[j], (double)s1[i], (double)z1[i]);
        if (memcmp(&s0[j], &s1[i], 4) || z0[j] != z1[i]) break;
    }
    lb_quantizer_run(q, lb_tensor_f32(w), s0, z0, ref, NULL);
    lb_packed_gptq_decode(p, 0, N, dec);
    LB_EXPECTF(!memcmp(ref, dec, (size_t)(N * K) * 4), "%s %s: decoded weights differ from w^", spec, prefix);
    /* a row range decodes the same rows */
    lb_packed_gptq_decode(p, N / 2, N / 4, dec);
    LB_EXPECTF(!memcmp(ref + (N / 2) * K, dec, (size_t)(N / 4 * K) * 4), "%s %s: row range differs", spec, prefix);
    free(c0), free(c1), free(s0), free(z0), free(s1), free(z1), free(ref), free(dec);
    lb_packed_free(p);
    (void)m;
}

static void roundtrip(lb_arch arch, const char *spec, bool v2, uint64_t seed)
{
    lb_model m;
    if (!make_model(&m, arch, spec, seed)) return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rt", g_tmp);
    lb_gptq_export_opts o = {.v2 = v2};
    lb_export_report info;
    lb_gptq_config wcfg;
    lb_status st = lb_gptq_export(&m, &o, dir, &wcfg, &info);
    LB_EXPECTF(!lb_failed(&st), "export %s: %s", spec, st.msg);
    if (!lb_failed(&st)) {
        lb_gptq_config cfg;
        st = lb_gptq_config_load(dir, &cfg);
        LB_EXPECTF(!lb_failed(&st), "%s: %s", spec, st.msg);
        LB_EXPECT(cfg.bits == m.blocks[0].wquant[arch == LB_ARCH_GPT2 ? LB_LIN_QKV : LB_LIN_Q]->spec.bits);
        LB_EXPECT(cfg.v2 == v2 && !cfg.desc_act && !cfg.lm_head);
        LB_EXPECT(info.n_lossless == (arch == LB_ARCH_GPT2 ? 4 : 7) * 2);
        LB_EXPECT(wcfg.bits == cfg.bits && wcfg.group_size == cfg.group_size && wcfg.sym == cfg.sym);
        LB_EXPECT(info.file_bytes > 0 && info.weight_bits > 0);
        lb_ckpt ck;
        st = lb_ckpt_open(&ck, dir);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        for (int64_t i = 0; !lb_failed(&st) && i < m.cfg.n_layers; i++)
            for (int id = 0; id < LB_LIN_COUNT; id++) {
                const lb_quantizer *q = m.blocks[i].wquant[id];
                const lb_tensor *w = lb_block_linear_weight(&m.blocks[i], (lb_linear_id)id);
                if (q) check_layer(&m, &ck, &cfg, dir, q, w, w->name, spec);
            }
        /* the rest is f16 under the HF names (embedding, norms) */
        const lb_st_tensor *e = lb_ckpt_find(&ck, arch == LB_ARCH_GPT2 ? "transformer.wte.weight"
                                                                        : "model.embed_tokens.weight");
        LB_EXPECT(e && !strcmp(e->dtype_str, "F16"));
        lb_ckpt_close(&ck);
    }
    lb_model_free(&m);
}

static void test_roundtrip_grids(void)
{
    const char *specs[] = {"int2:g32:asym", "int3:g32:asym", "int4:g32:asym", "int8:g32:asym", "int4:g64:sym",
                           "int3:ch:sym",   "int2:g64:sym",  "int8:ch:asym",  "int4:tensor:asym", "int3:g64:asym:mse",
                           "int4:g32:asym:lsq+"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        roundtrip(LB_ARCH_LLAMA, specs[i], strstr(specs[i], "asym") != NULL, 11 + i);
        roundtrip(LB_ARCH_GPT2, specs[i], true, 31 + i);
    }
    roundtrip(LB_ARCH_LLAMA, "int4:g32:sym", false, 5);   /* v1 */
    roundtrip(LB_ARCH_LLAMA, "int8:g64:sym", false, 6);
}

/* v1 stores zero - 1: an asymmetric zero of 0 (a group with no negative
 * value) is refused with a pointer to v2, which holds it. */
static void test_v1_zero0(void)
{
    lb_model m;
    if (!make_model(&m, LB_ARCH_LLAMA, NULL, 3)) return;
    float *w = lb_tensor_f32(m.blocks[1].w_up);
    for (int k = 0; k < 32; k++) w[5 * 64 + k] = fabsf(w[5 * 64 + k]);   /* row 5, group 0 */
    lb_status st = lb_run_quant_attach(NULL, &m, "int4:g32:asym", NULL, "all", false);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/z0", g_tmp);
    lb_gptq_export_opts o = {.v2 = false};
    st = lb_gptq_export(&m, &o, dir, NULL, NULL);
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "zero point 0") && strstr(st.msg, "--gptq-format v2") &&
                   strstr(st.msg, "up_proj"), "v1 with zero 0: '%s'", st.msg);
    o.v2 = true;
    st = lb_gptq_export(&m, &o, dir, NULL, NULL);
    LB_EXPECTF(!lb_failed(&st), "v2 with zero 0: %s", st.msg);
    lb_model_free(&m);
}

static void expect_refused(const char *wq, const char *needle)
{
    lb_model m;
    if (!make_model(&m, LB_ARCH_LLAMA, wq, 4)) return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ref", g_tmp);
    lb_gptq_export_opts o = {.v2 = true};
    lb_status st = lb_gptq_export(&m, &o, dir, NULL, NULL);
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, needle), "%s: expected an error with '%s', got '%s'",
               wq ? wq : "(none)", needle, st.msg);
    lb_model_free(&m);
}

static void test_refusals(void)
{
    expect_refused(NULL, "--wq");
    expect_refused("nf4:g32", "--wq int4");
    expect_refused("q4_0", "not an int<b> grid");
    expect_refused("int4:g32:f32", "fp16");
    expect_refused("int5:g32", "2, 3, 4 or 8");
    expect_refused("int6:g32", "2, 3, 4 or 8");
}

static lb_status put_text(FILE *fp, void *ud)
{
    return fputs(ud, fp) < 0 ? lb_errorf(LB_ERR_IO, "write failed") : lb_ok();
}

/* A config whose bits or group_size the tensors do not hold, a missing
 * tensor, an unsupported layout: errors that name the tensor / key. */
static void test_bad_config(void)
{
    lb_model m;
    if (!make_model(&m, LB_ARCH_LLAMA, "int4:g32:asym", 8)) return;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/bad", g_tmp);
    lb_gptq_export_opts o = {.v2 = true};
    lb_status st = lb_gptq_export(&m, &o, dir, NULL, NULL);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    snprintf(path, sizeof path, "%s/quantize_config.json", dir);
    const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"bits\": 8, \"group_size\": 32, \"sym\": false, \"checkpoint_format\": \"gptq_v2\"}", "qweight' has shape"},
        {"{\"bits\": 4, \"group_size\": 64, \"sym\": false, \"checkpoint_format\": \"gptq_v2\"}", "qzeros' has shape"},
        {"{\"bits\": 5, \"group_size\": 32}", "must be 2, 3, 4 or 8"},
        {"{\"bits\": 4, \"group_size\": 32, \"checkpoint_format\": \"marlin\"}", "\"marlin\""},
        {"{\"bits\": 4, \"group_size\": 0}", "group_size"},
        {"{\"bits\": 4, \"group_size\": 32, \"quant_method\": \"awq\"}", "quant_method"},
        {"{\"w_bit\": 4, \"q_group_size\": 128, \"zero_point\": true, \"version\": \"GEMM\"}", "AutoAWQ"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        st = lb_atomic_write(path, put_text, (void *)cases[i].json);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        lb_gptq_config cfg;
        st = lb_gptq_config_load(dir, &cfg);
        if (!lb_failed(&st)) {
            lb_ckpt ck;
            st = lb_ckpt_open(&ck, dir);
            lb_packed *p = NULL;
            if (!lb_failed(&st)) st = lb_gptq_packed_load(&ck, dir, &cfg, "model.layers.0.self_attn.q_proj", 64, 64, &p);
            lb_packed_free(p);
            lb_ckpt_close(&ck);
        }
        LB_EXPECTF(lb_failed(&st) && strstr(st.msg, cases[i].needle), "case %zu: expected '%s', got '%s'", i,
                   cases[i].needle, st.msg);
    }
    /* a tensor the layer needs is absent */
    st = lb_atomic_write(path, put_text, "{\"bits\": 4, \"group_size\": 32, \"sym\": false, \"checkpoint_format\": \"gptq_v2\"}");
    lb_gptq_config cfg;
    if (!lb_failed(&st)) st = lb_gptq_config_load(dir, &cfg);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    lb_ckpt ck;
    st = lb_ckpt_open(&ck, dir);
    lb_packed *p = NULL;
    if (!lb_failed(&st)) st = lb_gptq_packed_load(&ck, dir, &cfg, "model.layers.0.self_attn.nope", 64, 64, &p);
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "nope.qweight' is missing"), "missing: '%s'", st.msg);
    lb_ckpt_close(&ck);
    lb_model_free(&m);
}

/* Config keys as the tools spell them (FORMATS §3.7): synonyms, defaults,
 * lookup across quantize_config.json and config.json, marlin refused. */
static void test_config_keys(void)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/keys", g_tmp);
    snprintf(path, sizeof path, "mkdir -p %s", dir);
    LB_EXPECT(system(path) == 0);
    snprintf(path, sizeof path, "%s/quant_config.json", dir);
    lb_status st = lb_atomic_write(path, put_text, "{\"w_bit\": 3, \"q_group_size\": 64, \"format\": \"gptq_v2\", "
                                                   "\"quant_method\": \"gptq\"}");
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(lb_gptq_detect(dir));
    lb_gptq_config c;
    st = lb_gptq_config_load(dir, &c);   /* sym missing: true, with a warning */
    LB_EXPECTF(!lb_failed(&st) && c.bits == 3 && c.group_size == 64 && c.v2 && c.sym && !c.desc_act && !c.lm_head,
               "synonyms: %s (bits %d group %d v2 %d sym %d)", st.msg, c.bits, c.group_size, c.v2, c.sym);
    remove(path);
    LB_EXPECT(!lb_gptq_detect(dir));
    snprintf(path, sizeof path, "%s/config.json", dir);
    st = lb_atomic_write(path, put_text, "{\"model_type\": \"llama\", \"quantization_config\": {\"bits\": 8, "
                                         "\"group_size\": -1, \"sym\": false, \"desc_act\": true, "
                                         "\"quant_method\": \"gptq\", \"lm_head\": true}}");
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(lb_gptq_detect(dir));
    st = lb_gptq_config_load(dir, &c);   /* no checkpoint_format: v1 */
    LB_EXPECTF(!lb_failed(&st) && c.bits == 8 && c.group_size == -1 && !c.v2 && !c.sym && c.desc_act && c.lm_head,
               "config.json only: %s", st.msg);
    snprintf(path, sizeof path, "%s/quantize_config.json", dir);
    st = lb_atomic_write(path, put_text, "{\"bits\": 4, \"group_size\": 128, \"is_marlin_format\": true}");
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    st = lb_gptq_config_load(dir, &c);
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "Marlin"), "marlin: '%s'", st.msg);
}

/* Shards: a small limit splits the export as save_pretrained does and the
 * reader follows the index. */
static void test_shards(void)
{
    lb_model m;
    if (!make_model(&m, LB_ARCH_LLAMA, "int4:g32:sym", 9)) return;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/sh", g_tmp);
    lb_gptq_export_opts o = {.v2 = false, .max_shard_bytes = 20000};
    lb_status st = lb_gptq_export(&m, &o, dir, NULL, NULL);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    LB_EXPECT(access(path, F_OK) == 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    LB_EXPECT(access(path, F_OK) != 0);
    lb_model_free(&m);
}

/* --format hf: w^ for quantized weights, rounded to f16 once, read back by
 * lb_model_load. */
static void test_export_hf(void)
{
    lb_model m, back;
    if (!make_model(&m, LB_ARCH_GPT2, "int3:g32:asym", 10)) return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/hf", g_tmp);
    lb_export_report info;
    lb_status st = lb_export_hf(&m, dir, LB_F16, NULL, &info);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(info.n_lossless == 8);
    st = lb_model_load(&back, dir);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) goto out;
    const lb_quantizer *q = m.blocks[1].wquant[LB_LIN_DOWN];
    const lb_tensor *w = m.blocks[1].w_down;
    int64_t n = lb_tensor_numel(w);
    float *ref = malloc((size_t)n * 4), *s = malloc((size_t)n * 4), *z = malloc((size_t)n * 4);
    lb_quantizer_run(q, lb_tensor_f32(w), s, z, ref, NULL);
    const float *got = lb_tensor_f32(back.blocks[1].w_down);
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        float r;
        lb_convert_from_f32(&h, &ref[i], LB_F16, 1);
        lb_convert_to_f32(&r, &h, LB_F16, 1);
        if (r != got[i]) {
            LB_EXPECTF(false, "w_down %lld: %g, expected f16(w^) %g", (long long)i, (double)got[i], (double)r);
            break;
        }
    }
    free(ref), free(s), free(z);
    lb_model_free(&back);
out:
    lb_model_free(&m);
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/lb_test_gptq_%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_tmp);
    if (system(cmd) != 0) return 1;
    LB_RUN(test_pack_layout);
    LB_RUN(test_roundtrip_grids);
    LB_RUN(test_v1_zero0);
    LB_RUN(test_refusals);
    LB_RUN(test_bad_config);
    LB_RUN(test_config_keys);
    LB_RUN(test_shards);
    LB_RUN(test_export_hf);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return lb_test_summary();
}

