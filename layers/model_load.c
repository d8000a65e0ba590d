/* model_load.c — lb_model_load: an HF model directory into fp32 parameters.
 *
 * Reads config.json, opens the weights (single file or shards), and for every
 * tensor of the parameter table (model_internal.h) checks presence and shape
 * against the config before converting it to f32 (GPT-2 Conv1D weights are
 * transposed into nn.Linear layout here). GPT-2 names are accepted with and
 * without the "transformer." prefix.
 *
 * Tensors the config does not explain are an error, not a warning: a
 * checkpoint with more layers than num_hidden_layers, or with biases while
 * attention_bias is false, would otherwise load into a model that runs and
 * gives wrong numbers. Known buffers are skipped: rotary_emb.inv_freq (old
 * Llama conversions), GPT-2's attn.bias / attn.masked_bias mask buffers, and
 * lm_head.weight of a tied model (transformers ties it to the embedding).
 *
 * This file does not write checkpoints (model_init.c) or run the model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/checkpoint.h"
#include "layers/model_internal.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

/* file_name: the name a spec has in this checkpoint (GPT-2 files may lack
 * the "transformer." prefix). */
static const char *file_name(const lb_param_spec *s, bool strip_prefix)
{
    const char *pfx = "transformer.";
    if (strip_prefix && !strncmp(s->name, pfx, strlen(pfx))) return s->name + strlen(pfx);
    return s->name;
}

/* load_one: checks and converts one tensor into a new persistent tensor in
 * its slot. */
static lb_status load_one(const lb_ckpt *ck, const char *dir, const lb_param_spec *s, bool strip_prefix)
{
    const char *name = file_name(s, strip_prefix);
    const lb_st_tensor *t = lb_ckpt_find(ck, name);
    char want[64], got[64];
    int64_t fshape[2] = {s->conv1d ? s->shape[1] : s->shape[0], s->conv1d ? s->shape[0] : s->shape[1]};
    shape_str(want, sizeof want, s->ndim, fshape);
    if (!t)
        return lb_errorf(LB_ERR_FORMAT, "%s: tensor '%s' is missing, but config.json (%s) implies it with shape %s",
                         dir, name, s->why, want);
    bool ok = t->ndim == s->ndim;
    for (int d = 0; ok && d < s->ndim; d++) ok = t->shape[d] == fshape[d];
    if (!ok) {
        shape_str(got, sizeof got, t->ndim, t->shape);
        return lb_errorf(LB_ERR_SHAPE, "%s: tensor '%s' has shape %s but config.json (%s) implies %s", dir, name,
                         got, s->why, want);
    }

    lb_tensor *p = lb_tensor_alloc(LB_F32, s->ndim, s->shape);
    if (!p) return lb_errorf(LB_ERR_OOM, "%s: out of memory loading tensor '%s'", dir, name);
    *s->slot = p;
    lb_status st;
    if (!s->conv1d) {
        st = lb_st_read_f32(t, lb_tensor_f32(p));
        return lb_failed(&st) ? lb_status_prefix(st, "%s", dir) : st;
    }

    /* Conv1D [in, out] -> nn.Linear (out, in) */
    int64_t in = fshape[0], out = fshape[1];
    float *tmp = malloc((size_t)(in * out) * sizeof *tmp);
    if (!tmp) return lb_errorf(LB_ERR_OOM, "%s: out of memory loading tensor '%s'", dir, name);
    st = lb_st_read_f32(t, tmp);
    if (lb_failed(&st)) {
        free(tmp);
        return lb_status_prefix(st, "%s", dir);
    }
    float *w = lb_tensor_f32(p);
    for (int64_t i = 0; i < in; i++)
        for (int64_t o = 0; o < out; o++) w[o * in + i] = tmp[i * out + o];
    free(tmp);
    return lb_ok();
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool ignorable(const lb_model_config *c, const char *name)
{
    if (ends_with(name, ".rotary_emb.inv_freq")) return true;
    if (c->tie_embeddings && !strcmp(name, "lm_head.weight")) return true;
    if (c->arch == LB_ARCH_GPT2 && (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias")))
        return true;
    return false;
}

/* check_unexpected: every tensor in the files is either in the table or
 * ignorable. */
static lb_status check_unexpected(const lb_ckpt *ck, const char *dir, const lb_model_config *c,
                                  const lb_param_spec *specs, int n, bool strip_prefix)
{
    const char **names = malloc((size_t)n * sizeof *names);
    if (!names) return lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
    for (int i = 0; i < n; i++) names[i] = file_name(&specs[i], strip_prefix);
    qsort(names, (size_t)n, sizeof *names, cmp_str);

    const char *first = NULL;
    int extra = 0;
    for (int f = 0; f < ck->n_files; f++) {
        for (int i = 0; i < ck->files[f].n; i++) {
            const char *name = ck->files[f].tensors[i].name;
            if (ignorable(c, name) || bsearch(&name, names, (size_t)n, sizeof *names, cmp_str)) continue;
            if (!first) first = name;
            extra++;
        }
    }
    free(names);
    if (!extra) return lb_ok();
    char keys[128] = "";
    if (c->arch == LB_ARCH_LLAMA)
        snprintf(keys, sizeof keys, ", attention_bias=%s, mlp_bias=%s", c->attention_bias ? "true" : "false",
                 c->mlp_bias ? "true" : "false");
    return lb_errorf(LB_ERR_FORMAT,
                     "%s: tensor '%s'%s is not part of the model config.json describes (model_type=%s, "
                     "num_hidden_layers=%lld%s); the config and the weights disagree",
                     dir, first, extra > 1 ? " (and others)" : "", c->model_type, (long long)c->n_layers, keys);
}

lb_status lb_model_load(lb_model *m, const char *dir)
{
    memset(m, 0, sizeof *m);
    LB_TRY(lb_config_load(dir, &m->cfg));
    lb_ckpt ck;
    memset(&ck, 0, sizeof ck);
    LB_TRY(lb_ckpt_open(&ck, dir));

    int n = 0;
    lb_param_spec *specs = lb_model_param_specs(m, &n);
    lb_status st = lb_ok();
    if (!specs) {
        st = lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
        goto fail;
    }
    /* the hub's gpt2 has bare names; save_pretrained writes transformer.* */
    bool strip = m->cfg.arch == LB_ARCH_GPT2 && !lb_ckpt_find(&ck, "transformer.wte.weight") &&
                 lb_ckpt_find(&ck, "wte.weight");
    for (int i = 0; i < n; i++) {
        st = load_one(&ck, dir, &specs[i], strip);
        if (lb_failed(&st)) goto fail;
    }
    st = check_unexpected(&ck, dir, &m->cfg, specs, n, strip);
    if (lb_failed(&st)) goto fail;
    st = lb_model_finish(m, specs, n);
    if (lb_failed(&st)) goto fail;
    free(specs);
    lb_ckpt_close(&ck);
    return lb_ok();

fail:
    if (specs) lb_model_free_partial(m, specs, n);
    else lb_model_free(m);
    free(specs);
    lb_ckpt_close(&ck);
    return st;
}
