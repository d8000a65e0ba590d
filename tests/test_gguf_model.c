/* test_gguf_model.c — models through GGUF: lb_export_gguf then
 * lb_model_load_gguf.
 *   - a llama (with Q/K biases, GQA) and a gpt2 model with attached
 *     quantizers of each ggml grid (embeddings too; with and without a
 *     quantized head, tied and untied), exported and loaded back, give the
 *     fake-quant model's logits bit for bit, and the tokenizer rebuilt from
 *     the file encodes as the original;
 *   - a NaN weight aborts the export naming the tensor (no file is left);
 *     a bad --type is refused;
 *   - llama3 rope scaling survives (lowbit.rope.* keys: same logits; only
 *     llama.cpp's rope_freqs.weight: the same inverse frequencies to 1e-6).
 * (The file format itself: test_gguf.c.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/ctx.h"
#include "fixture.h"
#include "harness.h"
#include "quant/export.h"
#include "quant/gguf.h"
#include "quant/gguf_load.h"
#include "train/run_quant.h"

static char g_dir[256];

/* ---- models: export, load, same logits ------------------------------------------ */

static lb_model_config cfg_of(lb_arch arch)
{
    lb_model_config c = lb_test_config(arch, (lb_test_shape){.vocab = 8192, .hidden = 256, .inter = 512, .layers = 2,
                                                             .heads = 4, .kv_heads = 2, .head_dim = 64,
                                                             .max_pos = 64});
    c.tie_embeddings = arch == LB_ARCH_GPT2;
    c.attention_bias = c.o_bias = c.mlp_bias = arch == LB_ARCH_GPT2;
    if (arch == LB_ARCH_LLAMA) c.attention_bias = true; /* q/k biases: their permutation is tested */
    c.torch_dtype = LB_F32;
    return c;
}

/* logits of m on a fixed sequence, into out (T * V) */
static void logits(lb_ctx *ctx, const lb_model *m, float *out, int64_t T)
{
    lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(1, T));
    for (int64_t t = 0; t < T; t++) ((int32_t *)ids->data)[t] = (int32_t)((t * 977 + 13) % m->cfg.vocab_size);
    lb_tensor *y = lb_model_forward(ctx, m, ids, NULL);
    memcpy(out, y->data, sizeof(float) * (size_t)(T * m->cfg.vocab_size));
    lb_ctx_step_end(ctx);
}

static void model_case(lb_ctx *ctx, const lb_tokenizer *tok, lb_arch arch, const char *wq, bool head)
{
    lb_model_config c = cfg_of(arch);
    lb_model m, back;
    lb_status st = lb_model_init_random(&m, &c, 5);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    for (int i = 0; i < m.n_params; i++) /* non-zero biases, so the Q/K bias permutation matters */
        if (m.params[i]->ndim == 1 && strstr(m.param_names[i], "bias"))
            lb_test_rand(m.params[i]->data, m.params[i]->shape[0], (uint64_t)i, -0.5f, 0.5f);
    if (wq) st = lb_run_quant_attach(NULL, &m, wq, NULL, "all", true);
    if (head && !lb_failed(&st)) st = lb_run_quant_attach_head(NULL, &m, wq); /* --quantize-head */
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    const int64_t T = 12;
    size_t n = (size_t)(T * c.vocab_size);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    logits(ctx, &m, a, T);
    char name[64];
    snprintf(name, sizeof name, "%s_%s%s.gguf", arch == LB_ARCH_GPT2 ? "gpt2" : "llama", wq ? wq : "f32",
             head ? "_head" : "");
    lb_gguf_export_opts o = {lb_test_path(g_dir, name), wq ? wq : "f32", NULL, "test", NULL, true};
    lb_export_report r;
    st = lb_export_gguf(&m, tok, &o, &r);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", name, st.msg);
    lb_tokenizer *t2 = NULL;
    if (!lb_failed(&st)) st = lb_model_load_gguf(o.out, &back, &t2);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", name, st.msg);
    if (!lb_failed(&st)) {
        logits(ctx, &back, b, T);
        size_t diff = 0;
        for (size_t i = 0; i < n; i++) diff += a[i] != b[i];
        LB_EXPECTF(diff == 0, "%s: %zu of %zu logits differ from the fake-quant model's (first: %g vs %g)", name, diff,
                   n, (double)a[0], (double)b[0]);
        LB_EXPECTF(wq == NULL || r.n_lossless > 0, "%s: no weight was written from the run's codes", name);
        int32_t *ids = NULL;
        size_t ni = 0, cap = 0;
        const char *text = "def main(argv):\n    return 0\n";
        lb_status e = lb_tokenizer_encode(t2, text, strlen(text), &ids, &ni, &cap);
        int32_t *ids0 = NULL;
        size_t n0 = 0, cap0 = 0;
        if (!lb_failed(&e)) e = lb_tokenizer_encode(tok, text, strlen(text), &ids0, &n0, &cap0);
        LB_EXPECTF(!lb_failed(&e) && ni == n0 && !memcmp(ids, ids0, ni * sizeof *ids),
                   "%s: the tokenizer rebuilt from the file encodes differently", name);
        LB_EXPECT(lb_tokenizer_eos_id(t2) == lb_tokenizer_eos_id(tok));
        free(ids);
        free(ids0);
        lb_tokenizer_free(t2);
        lb_model_free(&back);
    }
    free(a);
    free(b);
    lb_model_free(&m);
}

/* a NaN weight stops the export (while the file is written: nothing is
 * left on disk) with a message naming the tensor; a bad --type is refused */
static void test_export_errors(void)
{
    lb_tokenizer *tok = NULL;
    lb_status st = lb_tokenizer_load("../assets/tokenizers/code-8k", &tok);
    lb_model_config c = cfg_of(LB_ARCH_LLAMA);
    lb_model m;
    if (!lb_failed(&st)) st = lb_model_init_random(&m, &c, 6);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) {
        lb_tokenizer_free(tok);
        return;
    }
    ((float *)m.blocks[1].w_up->data)[77] = NAN;
    lb_gguf_export_opts o = {lb_test_path(g_dir, "nan.gguf"), "q4_0", NULL, "test", NULL, true};
    lb_export_report r;
    st = lb_export_gguf(&m, tok, &o, &r);
    LB_EXPECTF(lb_failed(&st) && strstr(st.msg, "blk.1.ffn_up.weight") && strstr(st.msg, "nan"), "NaN weight: %s",
               lb_failed(&st) ? st.msg : "exported");
    LB_EXPECT(access(o.out, F_OK) != 0);
    o.type = "q3_k";
    st = lb_export_gguf(&m, tok, &o, &r);
    LB_EXPECTF(st.code == LB_ERR_ARG && strstr(st.msg, "--type"), "q3_k: %s", st.msg);
    lb_model_free(&m);
    lb_tokenizer_free(tok);
}

/* copy_without: g's keys but those starting with `drop`, and its tensors
 * (data borrowed from g), written to path */
static lb_status copy_without(const lb_gguf *g, const char *drop, const char *path)
{
    lb_gguf *o = lb_gguf_new();
    lb_status st = lb_ok();
    for (int64_t i = 0; i < g->n_kv && !lb_failed(&st); i++) {
        const lb_gguf_kv *kv = &g->kv[i];
        if (!strncmp(kv->key, drop, strlen(drop))) continue;
        if (kv->type == LB_GGUF_ARRAY && kv->elem_type == LB_GGUF_STRING)
            st = lb_gguf_set_arr_str(o, kv->key, (const char *const *)kv->str, (const size_t *)kv->str_len, kv->n);
        else if (kv->type == LB_GGUF_ARRAY) st = lb_gguf_set_arr_i32(o, kv->key, kv->num, kv->n);
        else if (kv->type == LB_GGUF_STRING) st = lb_gguf_set_str(o, kv->key, kv->str[0]);
        else if (kv->type == LB_GGUF_U32) st = lb_gguf_set_u32(o, kv->key, *(uint32_t *)kv->num);
        else if (kv->type == LB_GGUF_F32) st = lb_gguf_set_f32(o, kv->key, *(float *)kv->num);
        else if (kv->type == LB_GGUF_BOOL) st = lb_gguf_set_bool(o, kv->key, *(uint8_t *)kv->num);
        else st = lb_errorf(LB_ERR_ARG, "copy_without: key %s of type %d", kv->key, kv->type);
    }
    for (int64_t i = 0; i < g->n_t && !lb_failed(&st); i++)
        st = lb_gguf_add_tensor(o, g->t[i].name, g->t[i].n_dims, g->t[i].ne, g->t[i].type, g->t[i].data);
    if (!lb_failed(&st)) st = lb_gguf_write(o, path);
    lb_gguf_free(o);
    return st;
}

/* llama3 rope scaling: lowbit's keys give the exact config (same logits);
 * a file with only llama.cpp's rope_freqs.weight (as its converter writes)
 * gives the same inverse frequencies up to fp32 rounding */
static void test_llama3_rope(void)
{
    lb_ctx ctx;
    lb_tokenizer *tok = NULL;
    lb_model m, a, b;
    lb_status st = lb_ctx_init(&ctx, LB_CPU);
    if (!lb_failed(&st)) st = lb_tokenizer_load("../assets/tokenizers/code-8k", &tok);
    if (!lb_failed(&st)) st = lb_model_load(&m, "data/models/llama3_rope");
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    lb_ctx_set_grad(&ctx, false);
    LB_EXPECT(m.cfg.rope.type == LB_ROPE_LLAMA3);
    st = lb_run_quant_attach(NULL, &m, "q8_0", NULL, "all", false);
    lb_gguf_export_opts o = {lb_test_path(g_dir, "l3.gguf"), "q8_0", NULL, "test", NULL, true};
    lb_export_report r;
    if (!lb_failed(&st)) st = lb_export_gguf(&m, tok, &o, &r);
    lb_gguf *g = NULL;
    if (!lb_failed(&st)) st = lb_gguf_open(o.out, &g);
    if (!lb_failed(&st)) st = copy_without(g, "lowbit.rope", lb_test_path(g_dir, "l3_cpp.gguf"));
    lb_gguf_free(g);
    bool have_a = false, have_b = false;
    if (!lb_failed(&st)) {
        st = lb_model_load_gguf(o.out, &a, NULL);
        have_a = !lb_failed(&st);
    }
    if (!lb_failed(&st)) {
        st = lb_model_load_gguf(lb_test_path(g_dir, "l3_cpp.gguf"), &b, NULL);
        have_b = !lb_failed(&st);
    }
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (have_a && have_b) {
        const int64_t T = 100, n = T * m.cfg.vocab_size;
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        logits(&ctx, &m, x, T);
        logits(&ctx, &a, y, T);
        LB_EXPECTF(!memcmp(x, y, sizeof(float) * (size_t)n), "llama3 rope: the GGUF model's logits differ");
        LB_EXPECT(b.cfg.rope.type == LB_ROPE_DEFAULT);
        int scaled = 0;
        for (int64_t j = 0; j < m.cfg.head_dim / 2; j++) {
            float want = m.inv_freq[j], got = b.inv_freq[j];
            LB_EXPECTF(fabsf(got - want) <= 1e-6f * want, "rope_freqs: inv_freq[%lld] = %g, transformers' %g",
                       (long long)j, (double)got, (double)want);
            float unscaled = 1.0f / powf((float)m.cfg.rope.theta, (float)(2 * j) / (float)m.cfg.head_dim);
            scaled += want != unscaled;
        }
        LB_EXPECTF(scaled > 0, "the llama3 test model scales no frequency: the check proves nothing");
        free(x);
        free(y);
    }
    if (have_a) lb_model_free(&a);
    if (have_b) lb_model_free(&b);
    lb_model_free(&m);
    lb_tokenizer_free(tok);
    lb_ctx_free(&ctx);
}

static void test_models(void)
{
    lb_ctx ctx;
    lb_tokenizer *tok = NULL;
    lb_status st = lb_ctx_init(&ctx, LB_CPU);
    if (!lb_failed(&st)) st = lb_tokenizer_load("../assets/tokenizers/code-8k", &tok);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    lb_ctx_set_grad(&ctx, false);
    const char *grids[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q6_k", NULL};
    for (int i = 0; i < 8; i++) model_case(&ctx, tok, LB_ARCH_LLAMA, grids[i], false);
    model_case(&ctx, tok, LB_ARCH_LLAMA, "q6_k", true);  /* an untied head quantized too */
    model_case(&ctx, tok, LB_ARCH_GPT2, "q8_0", false); /* the tied head reads the raw table */
    model_case(&ctx, tok, LB_ARCH_GPT2, "q4_1", true);  /* the tied table quantized for both */
    model_case(&ctx, tok, LB_ARCH_GPT2, NULL, false);
    lb_tokenizer_free(tok);
    lb_ctx_free(&ctx);
}

int main(void)
{
    if (!lb_test_tmpdir(g_dir, sizeof g_dir, "lb_test_gguf_model")) return 1;
    LB_RUN(test_export_errors);
    LB_RUN(test_llama3_rope);
    LB_RUN(test_models);
    lb_test_rmtree(g_dir);
    return lb_test_summary();
}
