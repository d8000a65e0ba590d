/* test_model_load.c — loading HF directories that are wrong in the ways users
 * meet: sizes that disagree with the tensors, missing tensors, tensors the
 * config does not explain, a config without a required key, no config.json,
 * a shard named in the index but absent, a tensor of an unusable dtype. Each
 * must be an lb_status that names the file or tensor and the config key, and
 * leave nothing allocated (the ASan build checks). Also: a sharded checkpoint
 * written by lb_ckpt_write loads and gives the same logits.
 *
 * Runs from tests/ (recorded cases in data/models/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "layers/checkpoint.h"
#include "layers/fileio.h"
#include "layers/model.h"

static char g_tmp[256];

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        abort();
    }
}

/* copy_case: a fresh copy of data/models/<src> at <tmp>/<name>; returns it. */
static const char *copy_case(const char *src, const char *name)
{
    static char dir[512];
    char from[256];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, name);
    snprintf(from, sizeof from, "data/models/%s", src);
    sh("rm -rf '%s'%s", dir, "");
    sh("cp -r '%s' '%s'", from, dir);
    return dir;
}

/* edit_config: replaces the first `from` in dir/config.json by `to`. */
static void edit_config(const char *dir, const char *from, const char *to)
{
    char *path = lb_path_join(dir, "config.json");
    char *text = NULL;
    lb_status st = lb_read_file(path, &text, NULL);
    LB_CHECK(!lb_failed(&st));
    char *at = strstr(text, from);
    LB_CHECKF(at != NULL, "'%s' not in %s", from, path);
    FILE *f = fopen(path, "w");
    LB_CHECK(f);
    fwrite(text, 1, (size_t)(at - text), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
    free(text);
    free(path);
}

static void expect_load_error(const char *dir, const char *n1, const char *n2, const char *n3)
{
    lb_model m;
    lb_status st = lb_model_load(&m, dir);
    LB_EXPECTF(lb_failed(&st), "%s: expected a load error", dir);
    if (!lb_failed(&st)) {
        lb_model_free(&m);
        return;
    }
    const char *needles[] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        LB_EXPECTF(!needles[i] || strstr(st.msg, needles[i]), "message lacks '%s': %s", needles[i], st.msg);
    LB_EXPECT(m.params == NULL && m.blocks == NULL);
    printf("  (expected) %s\n", st.msg);
}

static void test_shape_disagrees(void)
{
    const char *d = copy_case("llama_gqa", "kvheads");
    edit_config(d, "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4");
    expect_load_error(d, "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [8, 16]",
                      "config.json (num_key_value_heads=4, head_dim=4, hidden_size=16) implies [16, 16]", NULL);

    d = copy_case("gpt2", "gpt2inner");
    edit_config(d, "\"n_inner\": null", "\"n_inner\": 32");
    expect_load_error(d, "'transformer.h.0.mlp.c_fc.weight' has shape [16, 64]", "n_inner=32", "[16, 32]");
}

static void test_missing_tensor(void)
{
    const char *d = copy_case("llama_gqa", "bias");
    edit_config(d, "\"attention_bias\": false", "\"attention_bias\": true");
    expect_load_error(d, "'model.layers.0.self_attn.q_proj.bias' is missing", "config.json", NULL);

    d = copy_case("llama_gqa", "layers3");
    edit_config(d, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    expect_load_error(d, "'model.layers.2.self_attn.q_proj.weight' is missing", NULL, NULL);

    d = copy_case("llama_tied", "untied");
    edit_config(d, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
    expect_load_error(d, "'lm_head.weight' is missing", "tie_word_embeddings=false", NULL);
}

static void test_unexpected_tensor(void)
{
    const char *d = copy_case("llama_gqa", "layers1");
    edit_config(d, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1");
    expect_load_error(d, "tensor 'model.layers.1.", "num_hidden_layers=1", "disagree");

    d = copy_case("llama_bias_hd", "nomlpbias");
    edit_config(d, "\"mlp_bias\": true", "\"mlp_bias\": false");
    expect_load_error(d, "mlp.", "bias'", "mlp_bias=false");
}

static void test_bad_config(void)
{
    const char *d = copy_case("llama_gqa", "nokey");
    edit_config(d, "\"intermediate_size\": 32,", "");
    expect_load_error(d, "config.json", "missing required key 'intermediate_size'", NULL);

    d = copy_case("llama_gqa", "noconfig");
    sh("rm '%s/config.json'%s", d, "");
    expect_load_error(d, "config.json", NULL, NULL);

    d = copy_case("llama_gqa", "noweights");
    sh("rm '%s/model.safetensors'%s", d, "");
    expect_load_error(d, "model.safetensors", NULL, NULL);
}

/* write_sharded: the parameters of `m` as shards of at most `max_bytes` in
 * dir, with m's config. */
static void write_sharded(const lb_model *m, const char *dir, size_t max_bytes, lb_dtype odd_dtype_for_first)
{
    lb_st_entry *e = calloc((size_t)m->n_params, sizeof *e);
    for (int i = 0; i < m->n_params; i++) {
        const lb_tensor *p = m->params[i];
        e[i].name = m->param_names[i];
        e[i].dtype = LB_F32;
        e[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) e[i].shape[d] = p->shape[d];
        e[i].data = p->data;
    }
    if (odd_dtype_for_first != LB_F32) e[0].dtype = odd_dtype_for_first; /* same bytes, other dtype */
    sh("mkdir -p '%s'%s", dir, "");
    lb_status st = lb_ckpt_write(dir, e, m->n_params, max_bytes);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    char *path = lb_path_join(dir, "config.json");
    st = lb_config_save(&m->cfg, path);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    free(path);
    free(e);
}

static void test_sharded(void)
{
    lb_model m, m2;
    lb_status st = lb_model_load(&m, "data/models/llama_gqa");
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/sharded", g_tmp);
    write_sharded(&m, dir, 4096, LB_F32);

    st = lb_model_load(&m2, dir);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (!lb_failed(&st)) {
        LB_EXPECT(m2.n_params == m.n_params);
        for (int i = 0; i < m.n_params && i < m2.n_params; i++)
            LB_EXPECTF(!memcmp(m.params[i]->data, m2.params[i]->data, lb_tensor_nbytes(m.params[i])),
                       "%s differs after the sharded round trip", m.param_names[i]);
        lb_model_free(&m2);
    }
    char shard[600];
    snprintf(shard, sizeof shard, "%s/model-00002-of-", dir);
    sh("rm %s*%s", shard, "");
    expect_load_error(dir, "model-00002-of-", "missing", NULL);

    /* a tensor whose dtype does not convert to f32 (I32 bytes) */
    snprintf(dir, sizeof dir, "%s/i32", g_tmp);
    write_sharded(&m, dir, 0, LB_I32);
    expect_load_error(dir, "model.embed_tokens.weight", "I32", NULL);
    lb_model_free(&m);
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/lb_test_model_load_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    LB_RUN(test_shape_disagrees);
    LB_RUN(test_missing_tensor);
    LB_RUN(test_unexpected_tensor);
    LB_RUN(test_bad_config);
    LB_RUN(test_sharded);
    sh("rm -rf '%s'%s", g_tmp, "");
    return lb_test_summary();
}
