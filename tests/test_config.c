/* test_config.c — config.json reading (defaults, aliases, both rope forms),
 * errors that name the file and the key, the writer round trip, parameter
 * counts of known models, and RoPE inverse frequencies.
 *
 * Runs from tests/ (the recorded cases are in data/models/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "layers/config.h"

static char g_tmp[256];

static const char *tmpdir(void)
{
    if (!g_tmp[0]) {
        snprintf(g_tmp, sizeof g_tmp, "/tmp/lb_test_config_XXXXXX");
        if (!mkdtemp(g_tmp)) abort();
    }
    return g_tmp;
}

/* write_config: writes json to <tmp>/<name>/config.json; returns the dir. */
static const char *write_config(const char *name, const char *json)
{
    static char dir[512];
    char path[600];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir(), name);
    snprintf(path, sizeof path, "mkdir -p '%s'", dir);
    if (system(path) != 0) abort();
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(json, f);
    fclose(f);
    return dir;
}

#define LLAMA_BASE                                                                       \
    "\"vocab_size\": 100, \"hidden_size\": 32, \"intermediate_size\": 64, "              \
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 4"

static lb_status load_json(const char *name, const char *json, lb_model_config *c)
{
    return lb_config_load(write_config(name, json), c);
}

/* expect_error: loading json fails and the message holds every needle. */
static void expect_error(const char *name, const char *json, const char *n1, const char *n2)
{
    lb_model_config c;
    lb_status st = load_json(name, json, &c);
    LB_EXPECTF(lb_failed(&st), "%s: expected an error", name);
    LB_EXPECTF(strstr(st.msg, "config.json") != NULL, "%s: message lacks the file: %s", name, st.msg);
    LB_EXPECTF(!n1 || strstr(st.msg, n1), "%s: message lacks '%s': %s", name, n1, st.msg);
    LB_EXPECTF(!n2 || strstr(st.msg, n2), "%s: message lacks '%s': %s", name, n2, st.msg);
}

static void test_llama_defaults(void)
{
    lb_model_config c;
    lb_status st = load_json("defaults", "{\"model_type\": \"llama\", " LLAMA_BASE "}", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.arch == LB_ARCH_LLAMA);
    LB_EXPECT(c.n_kv_heads == 4 && c.head_dim == 8);
    LB_EXPECT(c.max_pos == 2048);
    LB_EXPECT(c.norm_eps == 1e-6);
    LB_EXPECT(!c.tie_embeddings && !c.attention_bias && !c.o_bias && !c.mlp_bias);
    LB_EXPECT(c.rope.type == LB_ROPE_DEFAULT && c.rope.theta == 10000.0);
    LB_EXPECT(c.bos_id == 1 && c.eos_id == 2);
    LB_EXPECT(c.torch_dtype == LB_F32);
}

static void test_recorded_cases(void)
{
    lb_model_config c;
    lb_status st = lb_config_load("data/models/llama_gqa", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.n_heads == 4 && c.n_kv_heads == 2 && c.head_dim == 4 && c.norm_eps == 1e-5);

    st = lb_config_load("data/models/qwen2_bias/config.json", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(!strcmp(c.model_type, "qwen2") && c.attention_bias && !c.o_bias && !c.mlp_bias);
    LB_EXPECT(c.tie_embeddings && c.rope.theta == 1000000.0);

    st = lb_config_load("data/models/llama3_rope", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.rope.type == LB_ROPE_LLAMA3 && c.rope.factor == 8.0 && c.rope.low_freq_factor == 1.0 &&
              c.rope.high_freq_factor == 4.0 && c.rope.original_max_pos == 64);

    st = lb_config_load("data/models/llama_rope_params", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.rope.type == LB_ROPE_LINEAR && c.rope.factor == 2.0 && c.rope.theta == 10000.0);

    st = lb_config_load("data/models/llama_bias_hd", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.attention_bias && c.o_bias && c.mlp_bias && c.head_dim == 8 && c.hidden_size == 16);

    st = lb_config_load("data/models/gpt2", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.arch == LB_ARCH_GPT2 && c.hidden_size == 16 && c.n_heads == 4 && c.n_kv_heads == 4);
    LB_EXPECT(c.intermediate_size == 64 && c.max_pos == 32 && c.tie_embeddings && c.gelu == LB_GELU_TANH);
    LB_EXPECT(c.bos_id == 0 && c.eos_id == 1);

    st = lb_config_load("data/models/gpt2_noprefix", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.gelu == LB_GELU_EXACT);
}

static void test_variants(void)
{
    lb_model_config c;
    /* qwen2 without attention_bias still has q/k/v bias; eos as a list */
    lb_status st = load_json("qwen2", "{\"model_type\": \"qwen2\", " LLAMA_BASE
                                      ", \"num_key_value_heads\": 2, \"eos_token_id\": [7, 9],"
                                      " \"bos_token_id\": null, \"rope_scaling\": null,"
                                      " \"torch_dtype\": \"bfloat16\"}",
                             &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.attention_bias && !c.o_bias && c.eos_id == 7 && c.bos_id == -1);
    LB_EXPECT(c.n_kv_heads == 2 && c.torch_dtype == LB_BF16);

    /* rope_scaling with the old "type" key; explicit head_dim; null head_dim */
    st = load_json("linear", "{\"model_type\": \"llama\", " LLAMA_BASE
                             ", \"rope_theta\": 500000.0, \"head_dim\": 16,"
                             " \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4}}",
                   &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.rope.type == LB_ROPE_LINEAR && c.rope.factor == 4.0 && c.rope.theta == 500000.0);
    LB_EXPECT(c.head_dim == 16);
    st = load_json("hdnull", "{\"model_type\": \"mistral\", " LLAMA_BASE ", \"head_dim\": null}", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.head_dim == 8 && c.max_pos == 131072);

    /* rope_parameters (transformers v5) wins and carries the theta */
    st = load_json("ropeparams", "{\"model_type\": \"llama\", " LLAMA_BASE
                                 ", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1e6}}",
                   &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.rope.type == LB_ROPE_DEFAULT && c.rope.theta == 1e6);

    /* gpt2 with the HF alias names */
    st = load_json("gpt2alias", "{\"model_type\": \"gpt2\", \"vocab_size\": 50, \"hidden_size\": 24,"
                                " \"num_hidden_layers\": 1, \"num_attention_heads\": 3,"
                                " \"max_position_embeddings\": 40, \"n_inner\": null,"
                                " \"activation_function\": \"gelu_pytorch_tanh\"}",
                   &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECT(c.hidden_size == 24 && c.n_layers == 1 && c.n_heads == 3 && c.max_pos == 40);
    LB_EXPECT(c.intermediate_size == 96 && c.gelu == LB_GELU_TANH && c.tie_embeddings);
    LB_EXPECT(c.bos_id == 50256 && c.norm_eps == 1e-5);
}

static void test_errors(void)
{
    expect_error("nokey", "{\"model_type\": \"llama\", \"vocab_size\": 10, \"intermediate_size\": 8,"
                          " \"num_hidden_layers\": 1, \"num_attention_heads\": 2}",
                 "hidden_size", NULL);
    expect_error("notype", "{" LLAMA_BASE "}", "model_type", NULL);
    expect_error("badtype", "{\"model_type\": \"falcon\", " LLAMA_BASE "}", "falcon", NULL);
    expect_error("dynamic", "{\"model_type\": \"llama\", " LLAMA_BASE
                            ", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}}",
                 "dynamic", "rope_scaling");
    expect_error("yarn", "{\"model_type\": \"llama\", " LLAMA_BASE
                         ", \"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 2.0}}",
                 "yarn", "rope_parameters");
    expect_error("llama3", "{\"model_type\": \"llama\", " LLAMA_BASE
                           ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}",
                 "low_freq_factor", NULL);
    expect_error("kvheads", "{\"model_type\": \"llama\", " LLAMA_BASE ", \"num_key_value_heads\": 3}",
                 "num_key_value_heads", NULL);
    expect_error("notint", "{\"model_type\": \"llama\", " LLAMA_BASE ", \"num_key_value_heads\": 1.5}",
                 "num_key_value_heads", NULL);
    expect_error("act", "{\"model_type\": \"llama\", " LLAMA_BASE ", \"hidden_act\": \"gelu\"}",
                 "hidden_act", NULL);
    expect_error("gpt2act", "{\"model_type\": \"gpt2\", \"vocab_size\": 50, \"n_embd\": 24, \"n_layer\": 1,"
                            " \"n_head\": 3, \"activation_function\": \"relu\"}",
                 "activation_function", NULL);
    expect_error("badjson", "{\"model_type\": \"llama\", ", NULL, NULL);
    expect_error("hdodd", "{\"model_type\": \"llama\", " LLAMA_BASE ", \"head_dim\": 7}", "head_dim", NULL);

    lb_model_config c;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/does-not-exist", tmpdir());
    lb_status st = lb_config_load(dir, &c);
    LB_EXPECT(st.code == LB_ERR_IO && strstr(st.msg, "config.json"));
}

static bool same_config(const lb_model_config *a, const lb_model_config *b)
{
    return a->arch == b->arch && !strcmp(a->model_type, b->model_type) && a->vocab_size == b->vocab_size &&
           a->hidden_size == b->hidden_size && a->intermediate_size == b->intermediate_size &&
           a->n_layers == b->n_layers && a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads &&
           a->head_dim == b->head_dim && a->max_pos == b->max_pos && a->norm_eps == b->norm_eps &&
           a->tie_embeddings == b->tie_embeddings && a->attention_bias == b->attention_bias &&
           a->o_bias == b->o_bias && a->mlp_bias == b->mlp_bias &&
           (a->arch != LB_ARCH_GPT2 || a->gelu == b->gelu) && a->rope.type == b->rope.type &&
           a->rope.theta == b->rope.theta && a->rope.factor == b->rope.factor &&
           a->rope.low_freq_factor == b->rope.low_freq_factor &&
           a->rope.high_freq_factor == b->rope.high_freq_factor &&
           a->rope.original_max_pos == b->rope.original_max_pos && a->bos_id == b->bos_id &&
           a->eos_id == b->eos_id && a->torch_dtype == b->torch_dtype;
}

static void test_save_round_trip(void)
{
    const char *cases[] = {"llama_gqa", "qwen2_bias", "llama3_rope", "llama_rope_params", "llama_bias_hd",
                           "gpt2", "gpt2_noprefix"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[256], dst[512];
        snprintf(src, sizeof src, "data/models/%s", cases[i]);
        snprintf(dst, sizeof dst, "%s/rt_%s.json", tmpdir(), cases[i]);
        lb_model_config a, b;
        lb_status st = lb_config_load(src, &a);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        a.torch_dtype = LB_BF16;
        st = lb_config_save(&a, dst);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        st = lb_config_load(dst, &b);
        LB_EXPECTF(!lb_failed(&st), "%s: %s", cases[i], st.msg);
        LB_EXPECTF(same_config(&a, &b), "%s: config changed in a save/load round trip", cases[i]);
    }
}

static void test_n_params(void)
{
    /* Llama-2-7B: 6,738,415,616 parameters */
    lb_model_config c;
    lb_status st = load_json("llama7b", "{\"model_type\": \"llama\", \"vocab_size\": 32000,"
                                        " \"hidden_size\": 4096, \"intermediate_size\": 11008,"
                                        " \"num_hidden_layers\": 32, \"num_attention_heads\": 32}",
                             &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECTF(lb_config_n_params(&c) == 6738415616LL, "llama-7b: %lld", (long long)lb_config_n_params(&c));
    /* GPT-2 small: 124,439,808 (tied head) */
    st = load_json("gpt2small", "{\"model_type\": \"gpt2\", \"vocab_size\": 50257, \"n_embd\": 768,"
                                " \"n_layer\": 12, \"n_head\": 12, \"n_positions\": 1024}",
                   &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECTF(lb_config_n_params(&c) == 124439808LL, "gpt2: %lld", (long long)lb_config_n_params(&c));
    /* Qwen2.5-0.5B: 494,032,768 (q/k/v bias, tied) */
    st = load_json("qwen05", "{\"model_type\": \"qwen2\", \"vocab_size\": 151936, \"hidden_size\": 896,"
                             " \"intermediate_size\": 4864, \"num_hidden_layers\": 24,"
                             " \"num_attention_heads\": 14, \"num_key_value_heads\": 2,"
                             " \"tie_word_embeddings\": true}",
                   &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    LB_EXPECTF(lb_config_n_params(&c) == 494032768LL, "qwen2.5-0.5b: %lld", (long long)lb_config_n_params(&c));
}

static void test_inv_freq(void)
{
    lb_model_config c;
    lb_status st = lb_config_load("data/models/llama3_rope", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    float f[64];
    lb_rope_inv_freq(&c, f);
    /* double-precision evaluation of the formulas in FORMATS.md §2.4; fp32
     * pow and division round to ~1e-7 relative */
    const double tol = 1e-6;
    int kept = 0, scaled = 0, smooth = 0;
    for (int64_t j = 0; j < c.head_dim / 2; j++) {
        double base = 1.0 / pow(c.rope.theta, 2.0 * (double)j / (double)c.head_dim);
        double wl = 2 * M_PI / base, lo_wl = 64.0 / 1.0, hi_wl = 64.0 / 4.0, want;
        if (wl < hi_wl) want = base, kept++;
        else if (wl > lo_wl) want = base / 8.0, scaled++;
        else {
            double s = (64.0 / wl - 1.0) / (4.0 - 1.0);
            want = (1 - s) * base / 8.0 + s * base;
            smooth++;
        }
        LB_EXPECTF(fabs(f[j] - want) <= tol * want, "inv_freq[%lld] = %.9g, want %.9g", (long long)j, f[j],
                   want);
    }
    LB_EXPECTF(kept && scaled && smooth, "the case should exercise all three llama3 bands (%d %d %d)", kept,
               scaled, smooth);

    st = lb_config_load("data/models/llama_rope_params", &c);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    lb_rope_inv_freq(&c, f);
    for (int64_t j = 0; j < c.head_dim / 2; j++) {
        double want = 1.0 / pow(10000.0, 2.0 * (double)j / (double)c.head_dim) / 2.0;
        LB_EXPECTF(fabs(f[j] - want) <= tol * want, "linear inv_freq[%lld]", (long long)j);
    }
}

int main(void)
{
    LB_RUN(test_llama_defaults);
    LB_RUN(test_recorded_cases);
    LB_RUN(test_variants);
    LB_RUN(test_errors);
    LB_RUN(test_save_round_trip);
    LB_RUN(test_n_params);
    LB_RUN(test_inv_freq);
    if (g_tmp[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    }
    return lb_test_summary();
}
