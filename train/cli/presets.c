/* presets.c — the named model configs (see presets.h). Shapes only: the
 * weights of `lowbit init` are random, `lowbit bench` never loads any. */
#include "train/cli/presets.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct preset {
    const char *name;
    const char *about;
    lb_arch arch;
    int64_t V, C, I, L, nh, nkv, max_pos;
    bool tied;
} preset;

static const preset k_presets[] = {
    {"llama-tiny", "~0.9M parameters, for tests", LB_ARCH_LLAMA, 2048, 128, 384, 2, 4, 2, 512, false},
    {"llama-12m", "~12.6M parameters, the CPU benchmark model", LB_ARCH_LLAMA, 8192, 384, 1024, 6, 6, 2, 2048, true},
    {"llama-30m", "~29M parameters", LB_ARCH_LLAMA, 8192, 512, 1536, 8, 8, 4, 2048, true},
    {"gpt2-tiny", "~0.7M parameters, for tests", LB_ARCH_GPT2, 2048, 128, 512, 2, 4, 4, 512, true},
    {"tinyllama-1.1b", "TinyLlama-1.1B's shape, the GPU training benchmark", LB_ARCH_LLAMA, 32000, 2048, 5632, 22,
     32, 4, 2048, false},
};
static const int k_n_presets = (int)(sizeof k_presets / sizeof k_presets[0]);

static void preset_config(const preset *p, lb_model_config *c)
{
    memset(c, 0, sizeof *c);
    c->arch = p->arch;
    snprintf(c->model_type, sizeof c->model_type, "%s", p->arch == LB_ARCH_GPT2 ? "gpt2" : "llama");
    c->vocab_size = p->V;
    c->hidden_size = p->C;
    c->intermediate_size = p->I;
    c->n_layers = p->L;
    c->n_heads = p->nh;
    c->n_kv_heads = p->nkv;
    c->head_dim = p->C / p->nh;
    c->max_pos = p->max_pos;
    c->tie_embeddings = p->tied;
    c->bos_id = c->eos_id = -1;
    if (p->arch == LB_ARCH_GPT2) {
        c->norm_eps = 1e-5;
        c->gelu = LB_GELU_TANH;
        c->attention_bias = c->o_bias = c->mlp_bias = true;
    } else {
        c->norm_eps = 1e-5;
        c->rope.type = LB_ROPE_DEFAULT;
        c->rope.theta = 10000.0;
    }
}

lb_status lb_cli_model_config(const char *cmd, const char *spec, lb_model_config *c)
{
    for (int i = 0; i < k_n_presets; i++)
        if (!strcmp(spec, k_presets[i].name)) {
            preset_config(&k_presets[i], c);
            return lb_ok();
        }
    struct stat sb;
    size_t n = strlen(spec);
    if (stat(spec, &sb) == 0 || (n > 5 && !strcmp(spec + n - 5, ".json")))
        return lb_config_load(spec, c);
    char names[512] = "";
    for (int i = 0; i < k_n_presets; i++) {
        strcat(names, i ? ", " : "");
        strcat(names, k_presets[i].name);
    }
    return lb_errorf(LB_ERR_ARG, "%s: --config '%s' is neither a preset (%s) nor a config.json file", cmd, spec,
                     names);
}

void lb_cli_presets_print(FILE *f)
{
    for (int i = 0; i < k_n_presets; i++) {
        const preset *p = &k_presets[i];
        fprintf(f, "  %-14s %s: hidden %lld, %lld layers, %lld heads (%lld kv), intermediate %lld, vocab %lld%s\n",
                p->name, p->about, (long long)p->C, (long long)p->L, (long long)p->nh, (long long)p->nkv,
                (long long)p->I, (long long)p->V, p->tied ? ", tied head" : "");
    }
}
