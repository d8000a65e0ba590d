/* test_gptq_load.c — lb_model_load_gptq (quant/gptq_load.c): models with
 * int<b> quantizers (llama and gpt2, every linear or a subset, with and
 * without a packed lm_head) exported to GPTQ and loaded back with their
 * linears packed give the fake-quant forward's logits bit for bit (the
 * parameters without a quantizer are rounded to f16 first, as the file
 * stores them).
 *
 *   test_gptq_load                 that test (run from tests/)
 *   test_gptq_load GPTQ_DIR ...    parity: each dir (another tool's
 *                                  checkpoint, written by
 *                                  scripts/parity/gptq_parity.py with
 *                                  expected.safetensors / expected.json)
 *                                  loaded by lb_model_load_gptq gives
 *                                  transformers' fp32 logits of the
 *                                  dequantized model within 1e-4 of max
 *                                  |logit| (test_model_parity's tolerance
 *                                  and reasoning: fp32 on both sides,
 *                                  different summation orders) and its
 *                                  greedy tokens through the KV cache.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fixture.h"
#include "harness.h"
#include "layers/checkpoint.h"
#include "layers/json_util.h"
#include "quant/gptq.h"
#include "quant/quantizer.h"
#include "train/run_quant.h"

static char g_tmp[256];

/* round_f16: every parameter without a quantizer rounded to f16 (what the
 * export stores), so the packed model must give the same logits bit for
 * bit: the same w^ (decoded exactly), the same other weights. */
static void round_f16(lb_model *m)
{
    for (int i = 0; i < m->n_params; i++) {
        bool quantized = false;
        for (int64_t l = 0; l < m->cfg.n_layers; l++)
            for (int id = 0; id < LB_LIN_COUNT; id++)
                quantized = quantized || (m->blocks[l].wquant[id] &&
                                          lb_block_linear_weight(&m->blocks[l], (lb_linear_id)id) == m->params[i]);
        if (quantized) continue;
        float *x = lb_tensor_f32(m->params[i]);
        for (int64_t j = 0; j < lb_tensor_numel(m->params[i]); j++) {
            uint16_t h;
            lb_convert_from_f32(&h, &x[j], LB_F16, 1);
            lb_convert_to_f32(&x[j], &h, LB_F16, 1);
        }
    }
}

static void load_and_compare(lb_arch arch, const char *spec, bool v2, const char *layers, bool head)
{
    lb_model m, g;
    lb_model_config c = lb_test_gptq_config(arch);
    lb_status st = lb_model_init_random(&m, &c, 77);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    round_f16(&m);
    st = lb_run_quant_attach(NULL, &m, spec, NULL, layers, false);
    if (!lb_failed(&st) && head) st = lb_run_quant_attach_head(NULL, &m, spec);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/load", g_tmp);
    lb_gptq_export_opts o = {.v2 = v2};
    if (!lb_failed(&st)) st = lb_gptq_export(&m, &o, dir, NULL, NULL);
    LB_EXPECTF(!lb_failed(&st), "export %s: %s", spec, st.msg);
    if (!lb_failed(&st)) st = lb_model_load_gptq(&g, dir);
    LB_EXPECTF(!lb_failed(&st), "load %s: %s", spec, st.msg);
    if (lb_failed(&st)) {
        lb_model_free(&m);
        return;
    }
    int packed = 0;
    for (int64_t l = 0; l < g.cfg.n_layers; l++)
        for (int id = 0; id < LB_LIN_COUNT; id++) packed += g.blocks[l].wpacked[id] != NULL;
    int want = 0;
    for (int64_t l = 0; l < m.cfg.n_layers; l++)
        for (int id = 0; id < LB_LIN_COUNT; id++) want += m.blocks[l].wquant[id] != NULL;
    LB_EXPECTF(packed == want && want > 0, "%s: %d packed linears, %d quantized", spec, packed, want);
    LB_EXPECTF((g.head_packed != NULL) == head, "%s: head packed %d, quantized %d", spec, g.head_packed != NULL, head);
    lb_ctx ctx;
    lb_ctx_init(&ctx, LB_CPU);
    int32_t idv[12] = {3, 17, 5, 90, 1, 2, 44, 60, 7, 8, 33, 21};
    lb_tensor *ids = lb_tensor_new(&ctx, LB_I32, LB_SHAPE(2, 6)); // (B, T)
    memcpy(ids->data, idv, sizeof idv);
    lb_tensor *a = lb_model_forward(&ctx, &m, ids, NULL), *b = lb_model_forward(&ctx, &g, ids, NULL);
    int64_t n = lb_tensor_numel(a);
    LB_EXPECTF(n == lb_tensor_numel(b) && !memcmp(a->data, b->data, (size_t)n * 4),
               "%s: logits of the GPTQ load differ from the fake-quant forward", spec);
    lb_ctx_free(&ctx);
    lb_model_free(&g);
    lb_model_free(&m);
}

static void test_load_model(void)
{
    load_and_compare(LB_ARCH_LLAMA, "int4:g32:asym", true, "all", false);
    load_and_compare(LB_ARCH_LLAMA, "int3:g64:sym", false, "all", true);   /* --quantize-head: lm_head packed */
    load_and_compare(LB_ARCH_LLAMA, "int2:ch:asym", true, "mlp", false);
    load_and_compare(LB_ARCH_GPT2, "int8:g32:asym", true, "all", false);
    load_and_compare(LB_ARCH_GPT2, "int4:g64:sym", false, "attn", false);
}

#define PARITY_TOL 1e-4

static void parity_logits(lb_ctx *ctx, const lb_model *m, const lb_st_file *ex, const char *dir)
{
    for (int i = 0;; i++) {
        char in_name[32], out_name[32];
        snprintf(in_name, sizeof in_name, "input_ids.%d", i);
        snprintf(out_name, sizeof out_name, "logits.%d", i);
        const lb_st_tensor *ti = lb_st_find(ex, in_name), *tl = lb_st_find(ex, out_name);
        if (!ti || !tl) {
            LB_EXPECTF(i > 0, "%s: expected.safetensors has no input_ids.0 / logits.0", dir);
            return;
        }
        int64_t B = ti->shape[0], T = ti->shape[1], V = tl->shape[2];
        float *want = malloc((size_t)(B * T * V) * sizeof *want);
        lb_status st = lb_st_read_f32(tl, want);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B, T)); // (B, T)
        memcpy(ids->data, ti->data, (size_t)(B * T) * sizeof(int32_t));
        lb_tensor *logits = lb_model_forward(ctx, m, ids, NULL); // (B, T, V)
        const float *got = lb_tensor_f32(logits);
        double maxd = 0, maxr = 1e-6;
        for (int64_t j = 0; j < B * T * V; j++) {
            maxd = fmax(maxd, fabs((double)got[j] - (double)want[j]));
            maxr = fmax(maxr, fabs((double)want[j]));
        }
        printf("  %s: input %d (B=%lld, T=%lld): max rel diff %.3g\n", dir, i, (long long)B, (long long)T,
               maxd / maxr);
        LB_EXPECTF(maxd / maxr <= PARITY_TOL, "%s: input %d: logits differ from transformers by %.3g", dir, i,
                   maxd / maxr);
        free(want);
        lb_ctx_step_end(ctx);
    }
}

/* parity_generate: greedy tokens through the KV cache == transformers'. */
static void parity_generate(lb_ctx *ctx, const lb_model *m, const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/expected.json", dir);
    cJSON *root = NULL;
    lb_status st = lb_json_load(path, &root);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(root, "generate");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(gen, "prompt");
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(gen, "tokens");
    int np = cJSON_GetArraySize(prompt), nt = cJSON_GetArraySize(tokens);
    lb_kv_cache kv;
    st = lb_kv_cache_init(&kv, m, np + nt + 1);
    LB_EXPECTF(!lb_failed(&st) && np > 0 && nt > 0, "%s: %s", dir, st.msg);
    if (lb_failed(&st)) {
        cJSON_Delete(root);
        return;
    }
    lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(1, np)); // (1, T)
    for (int i = 0; i < np; i++) ((int32_t *)ids->data)[i] = cJSON_GetArrayItem(prompt, i)->valueint;
    for (int t = 0; t < nt; t++) {
        lb_tensor *logits = lb_model_forward(ctx, m, ids, &kv); // (1, T, V)
        int64_t T = logits->shape[1], V = logits->shape[2];
        const float *last = lb_tensor_f32(logits) + (T - 1) * V;
        int32_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (last[v] > last[best]) best = (int32_t)v;
        int want = cJSON_GetArrayItem(tokens, t)->valueint;
        LB_EXPECTF(best == want, "%s: greedy token %d is %d, transformers gives %d", dir, t, best, want);
        if (best != want) break;
        lb_ctx_step_end(ctx);
        ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(1, 1)); // (1, 1)
        ((int32_t *)ids->data)[0] = best;
    }
    lb_ctx_step_end(ctx);
    lb_kv_cache_free(&kv);
    cJSON_Delete(root);
}

/* The case the parity tests run on (the harness takes void functions). */
typedef struct parity_case {
    lb_ctx *ctx;
    const lb_model *m;
    const lb_st_file *ex;
    const char *dir;
} parity_case;
static parity_case g_par;

static void test_parity_logits(void) { parity_logits(g_par.ctx, g_par.m, g_par.ex, g_par.dir); }
static void test_parity_generate(void) { parity_generate(g_par.ctx, g_par.m, g_par.dir); }

static int parity_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *dir = argv[i];
        lb_model m;
        lb_status st = lb_model_load_gptq(&m, dir);
        if (lb_failed(&st)) {
            fprintf(stderr, "%s\n", st.msg);
            return 1;
        }
        char path[600];
        snprintf(path, sizeof path, "%s/expected.safetensors", dir);
        lb_st_file ex;
        st = lb_st_open(&ex, path);
        if (lb_failed(&st)) {
            fprintf(stderr, "%s\n", st.msg);
            lb_model_free(&m);
            return 1;
        }
        lb_ctx ctx;
        lb_ctx_init(&ctx, LB_CPU);
        ctx.grad_enabled = false;
        g_par = (parity_case){&ctx, &m, &ex, dir};
        LB_RUN(test_parity_logits);
        LB_RUN(test_parity_generate);
        lb_ctx_free(&ctx);
        lb_st_close(&ex);
        lb_model_free(&m);
    }
    return lb_test_summary();
}

int main(int argc, char **argv)
{
    if (argc > 1) return parity_main(argc, argv);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/lb_test_gptq_load_%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_tmp);
    if (system(cmd) != 0) return 1;
    LB_RUN(test_load_model);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return lb_test_summary();
}
