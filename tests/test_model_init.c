/* test_model_init.c — random init (determinism, the distributions
 * transformers uses) and lb_model_save (f32 exact round trip through
 * lb_model_load, bf16/f16 rounding, tied head omitted, GPT-2 Conv1D layout,
 * logits unchanged). Runs from tests/. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "layers/checkpoint.h"
#include "layers/model.h"

static char g_tmp[256];

static lb_model_config tiny_llama(void)
{
    lb_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = LB_ARCH_LLAMA;
    snprintf(c.model_type, sizeof c.model_type, "llama");
    c.vocab_size = 96;
    c.hidden_size = 32;
    c.intermediate_size = 48;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 8;
    c.max_pos = 64;
    c.norm_eps = 1e-5;
    c.rope.theta = 10000.0;
    c.attention_bias = c.o_bias = true;
    c.bos_id = 1;
    c.eos_id = 2;
    return c;
}

static lb_model_config tiny_gpt2(void)
{
    lb_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = LB_ARCH_GPT2;
    snprintf(c.model_type, sizeof c.model_type, "gpt2");
    c.vocab_size = 80;
    c.hidden_size = 24;
    c.intermediate_size = 96;
    c.n_layers = 2;
    c.n_heads = 3;
    c.n_kv_heads = 3;
    c.head_dim = 8;
    c.max_pos = 32;
    c.norm_eps = 1e-5;
    c.tie_embeddings = true;
    c.attention_bias = c.o_bias = c.mlp_bias = true;
    c.gelu = LB_GELU_TANH;
    c.bos_id = c.eos_id = 0;
    return c;
}

static const lb_tensor *param(const lb_model *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->param_names[i], name)) return m->params[i];
    return NULL;
}

static void test_init_distributions(void)
{
    lb_model_config c = tiny_llama();
    c.vocab_size = 4096; /* a big embedding for the statistics */
    lb_model a, b, d;
    lb_status st = lb_model_init_random(&a, &c, 7);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    st = lb_model_init_random(&b, &c, 7);
    LB_EXPECT(!lb_failed(&st));
    st = lb_model_init_random(&d, &c, 8);
    LB_EXPECT(!lb_failed(&st));
    LB_EXPECT(a.n_params == b.n_params && a.lm_head != a.tok_emb);
    int64_t total = 0;
    for (int i = 0; i < a.n_params; i++) {
        LB_EXPECTF(!memcmp(a.params[i]->data, b.params[i]->data, lb_tensor_nbytes(a.params[i])),
                   "%s: same seed, different weights", a.param_names[i]);
        LB_EXPECT(a.params[i]->requires_grad && a.params[i]->name == a.param_names[i]);
        total += lb_tensor_numel(a.params[i]);
    }
    LB_EXPECTF(total == lb_config_n_params(&c), "%lld parameters, config says %lld", (long long)total,
               (long long)lb_config_n_params(&c));
    const lb_tensor *e = param(&a, "model.embed_tokens.weight");
    LB_EXPECT(memcmp(e->data, param(&d, "model.embed_tokens.weight")->data, lb_tensor_nbytes(e)) != 0);
    /* N(0, 0.02^2) over n = 131072 draws: the sample mean has sd 0.02/sqrt(n)
     * = 5.5e-5 and the sample sd is within a few 1e-4 of 0.02 */
    const float *x = lb_tensor_f32(e);
    int64_t n = lb_tensor_numel(e);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) s += x[i], s2 += (double)x[i] * x[i];
    double mean = s / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
    LB_EXPECTF(fabs(mean) < 4 * 5.5e-5 && fabs(sd - 0.02) < 4e-4, "embedding mean %g sd %g", mean, sd);
    const float *norm = lb_tensor_f32(param(&a, "model.layers.1.post_attention_layernorm.weight"));
    const float *bias = lb_tensor_f32(param(&a, "model.layers.0.self_attn.o_proj.bias"));
    for (int i = 0; i < 32; i++) LB_EXPECT(norm[i] == 1.0f && bias[i] == 0.0f);
    lb_model_free(&a);
    lb_model_free(&b);
    lb_model_free(&d);

    /* GPT-2: the residual projections get 0.02 / sqrt(2 n_layer) */
    c = tiny_gpt2();
    c.hidden_size = 240;
    c.n_heads = 6;
    c.n_kv_heads = 6;
    c.head_dim = 40;
    c.intermediate_size = 960;
    st = lb_model_init_random(&a, &c, 1);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    const lb_tensor *w = param(&a, "transformer.h.0.mlp.c_proj.weight");
    x = lb_tensor_f32(w);
    n = lb_tensor_numel(w);
    s2 = 0;
    for (int64_t i = 0; i < n; i++) s2 += (double)x[i] * x[i];
    LB_EXPECTF(fabs(sqrt(s2 / (double)n) - 0.01) < 2e-4, "c_proj sd %g, want 0.01", sqrt(s2 / (double)n));
    LB_EXPECT(a.lm_head == a.tok_emb);
    lb_model_free(&a);
}

/* logits of a model for fixed ids (1, 9), copied out (caller frees). */
static float *logits_of(const lb_model *m)
{
    lb_ctx ctx;
    lb_status st = lb_ctx_init(&ctx, LB_CPU);
    LB_CHECK(!lb_failed(&st));
    lb_ctx_set_grad(&ctx, false);
    lb_tensor *ids = lb_tensor_new(&ctx, LB_I32, LB_SHAPE(1, 9));
    for (int i = 0; i < 9; i++) ((int32_t *)ids->data)[i] = (int32_t)((i * 37 + 5) % m->cfg.vocab_size);
    lb_tensor *lg = lb_model_forward(&ctx, m, ids, NULL);
    size_t n = (size_t)lb_tensor_numel(lg);
    float *out = malloc(n * sizeof *out);
    memcpy(out, lg->data, n * sizeof *out);
    lb_ctx_free(&ctx);
    return out;
}

static void round_trip(const lb_model_config *c, const char *name, lb_dtype dt)
{
    lb_model a, b;
    lb_status st = lb_model_init_random(&a, c, 42);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    /* make norms and biases non-trivial so the round trip tests them */
    for (int i = 0; i < a.n_params; i++)
        if (a.params[i]->ndim == 1) {
            float *x = lb_tensor_f32(a.params[i]);
            for (int64_t j = 0; j < lb_tensor_numel(a.params[i]); j++) x[j] += 0.01f * (float)(j % 7);
        }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s_%s", g_tmp, name, lb_dtype_name(dt));
    st = lb_model_save(&a, dir, dt);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    st = lb_model_load(&b, dir);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", dir, st.msg);
    if (lb_failed(&st)) {
        lb_model_free(&a);
        return;
    }
    LB_EXPECT(b.n_params == a.n_params && b.cfg.torch_dtype == dt);
    for (int i = 0; i < a.n_params && i < b.n_params; i++) {
        LB_EXPECT(!strcmp(a.param_names[i], b.param_names[i]));
        const float *x = lb_tensor_f32(a.params[i]), *y = lb_tensor_f32(b.params[i]);
        int64_t n = lb_tensor_numel(a.params[i]);
        int bad = 0;
        for (int64_t j = 0; j < n; j++) {
            float want = dt == LB_F32    ? x[j]
                         : dt == LB_BF16 ? lb_bf16_to_f32(lb_f32_to_bf16(x[j]))
                                         : lb_f16_to_f32(lb_f32_to_f16(x[j]));
            bad += y[j] != want;
        }
        LB_EXPECTF(!bad, "%s %s: %d values differ after save/load", name, a.param_names[i], bad);
    }
    if (dt == LB_F32) {
        float *la = logits_of(&a), *lb = logits_of(&b);
        LB_EXPECT(!memcmp(la, lb, (size_t)(9 * c->vocab_size) * sizeof(float)));
        free(la);
        free(lb);
    }
    /* the file holds HF names and layouts; a tied head is not stored */
    lb_ckpt ck;
    st = lb_ckpt_open(&ck, dir);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (!lb_failed(&st)) {
        LB_EXPECT((lb_ckpt_find(&ck, "lm_head.weight") != NULL) == !c->tie_embeddings);
        if (c->arch == LB_ARCH_GPT2) {
            const lb_st_tensor *t = lb_ckpt_find(&ck, "transformer.h.0.mlp.c_fc.weight");
            LB_EXPECT(t && t->shape[0] == c->hidden_size && t->shape[1] == c->intermediate_size);
        }
        lb_ckpt_close(&ck);
    }
    lb_model_free(&a);
    lb_model_free(&b);
}

static void test_save_load(void)
{
    lb_model_config l = tiny_llama(), g = tiny_gpt2();
    round_trip(&l, "llama", LB_F32);
    round_trip(&l, "llama", LB_BF16);
    round_trip(&l, "llama", LB_F16);
    l.tie_embeddings = true;
    l.mlp_bias = true;
    round_trip(&l, "llama_tied", LB_F32);
    round_trip(&g, "gpt2", LB_F32);
    round_trip(&g, "gpt2", LB_BF16);
    g.tie_embeddings = false;
    round_trip(&g, "gpt2_untied", LB_F32);
}

static void test_bad_config(void)
{
    lb_model_config c = tiny_llama();
    c.n_kv_heads = 3;
    lb_model m;
    lb_status st = lb_model_init_random(&m, &c, 1);
    LB_EXPECT(lb_failed(&st) && strstr(st.msg, "num_key_value_heads"));
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/lb_test_model_init_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    LB_RUN(test_init_distributions);
    LB_RUN(test_save_load);
    LB_RUN(test_bad_config);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return lb_test_summary();
}
