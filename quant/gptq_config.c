/* gptq_config.c — the quantization config of a GPTQ directory (FORMATS.md
 * §3.7): reading it as AutoGPTQ / GPTQModel do, and the object lowbit
 * writes. See gptq.h.
 *
 * Reading looks in quantize_config.json (then quant_config.json) first and
 * falls back key by key to config.json's quantization_config, so a
 * checkpoint whose two files each carry part of the settings (GPTQModel
 * puts checkpoint_format in one, older tools sym in the other) reads the
 * way the tools read it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layers/fileio.h"
#include "layers/json_util.h"
#include "quant/gptq.h"

/* The config sources of one directory, in lookup order. */
typedef struct gptq_src {
    cJSON *root[2];        /* owned documents */
    const cJSON *obj[2];   /* the object holding the keys, or NULL */
    char path[2][4096];
} gptq_src;

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void src_free(gptq_src *s)
{
    cJSON_Delete(s->root[0]);
    cJSON_Delete(s->root[1]);
}

/* src_open: loads the separate config file (if any) and config.json's
 * quantization_config (if any). */
static lb_status src_open(const char *dir, gptq_src *s)
{
    memset(s, 0, sizeof *s);
    static const char *names[] = {"quantize_config.json", "quant_config.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(s->path[0], sizeof s->path[0], "%s/%s", dir, names[i]);
        if (!file_exists(s->path[0])) continue;
        LB_TRY(lb_json_load(s->path[0], &s->root[0]));
        if (!cJSON_IsObject(s->root[0])) {
            src_free(s);
            return lb_errorf(LB_ERR_FORMAT, "%s: expected a JSON object", s->path[0]);
        }
        s->obj[0] = s->root[0];
        break;
    }
    snprintf(s->path[1], sizeof s->path[1], "%s/config.json", dir);
    if (file_exists(s->path[1])) {
        lb_status st = lb_json_load(s->path[1], &s->root[1]);
        if (lb_failed(&st)) {
            src_free(s);
            return st;
        }
        const cJSON *qc = cJSON_GetObjectItemCaseSensitive(s->root[1], "quantization_config");
        if (cJSON_IsObject(qc)) s->obj[1] = qc;
    }
    if (!s->obj[0] && !s->obj[1]) {
        src_free(s);
        return lb_errorf(LB_ERR_FORMAT,
                         "%s: not a GPTQ checkpoint: no quantize_config.json, quant_config.json or "
                         "quantization_config in config.json", dir);
    }
    return lb_ok();
}

/* src_get: the first of the key names found, and where (*from: the file). */
static const cJSON *src_get(const gptq_src *s, const char *const *keys, const char **from, const char **key)
{
    for (int i = 0; i < 2; i++)
        for (int k = 0; keys[k] && s->obj[i]; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->obj[i], keys[k]);
            if (v && !cJSON_IsNull(v)) {
                *from = i ? s->path[1] : s->path[0];
                *key = keys[k];
                return v;
            }
        }
    return NULL;
}

static lb_status get_bool(const gptq_src *s, const char *name, bool dflt, bool *out, bool *found)
{
    const char *keys[] = {name, NULL}, *from = NULL, *key = NULL;
    const cJSON *v = src_get(s, keys, &from, &key);
    *found = v != NULL;
    *out = dflt;
    if (!v) return lb_ok();
    if (!cJSON_IsBool(v)) return lb_errorf(LB_ERR_FORMAT, "%s: \"%s\" must be true or false", from, key);
    *out = cJSON_IsTrue(v);
    return lb_ok();
}

bool lb_gptq_detect(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/quantize_config.json", dir);
    if (file_exists(path)) return true;
    snprintf(path, sizeof path, "%s/quant_config.json", dir);
    if (file_exists(path)) return true;
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *root = NULL;
    lb_status st = lb_json_load(path, &root);
    if (lb_failed(&st)) return false;
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    bool yes = cJSON_IsString(qm) && !strcmp(qm->valuestring, "gptq");
    cJSON_Delete(root);
    return yes;
}

static lb_status parse(const gptq_src *s, const char *dir, lb_gptq_config *cfg)
{
    const char *from = NULL, *key = NULL;
    const char *k_method[] = {"quant_method", NULL};
    const cJSON *v = src_get(s, k_method, &from, &key);
    if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, "gptq")))
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: quant_method is %s%s%s; lowbit reads \"gptq\" checkpoints here", from,
                         cJSON_IsString(v) ? "\"" : "", cJSON_IsString(v) ? v->valuestring : "not a string",
                         cJSON_IsString(v) ? "\"" : "");

    /* AutoAWQ's quant_config.json: zero_point / version and no quant_method */
    if (s->obj[0] && !cJSON_GetObjectItemCaseSensitive(s->obj[0], "quant_method") &&
        (cJSON_GetObjectItemCaseSensitive(s->obj[0], "zero_point") ||
         cJSON_GetObjectItemCaseSensitive(s->obj[0], "version")))
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: zero_point / version and no quant_method: this looks like an AutoAWQ "
                         "checkpoint, which lowbit does not read; GPTQ checkpoints are read here", s->path[0]);

    const char *k_bits[] = {"bits", "w_bit", NULL};
    v = src_get(s, k_bits, &from, &key);
    if (!v) return lb_errorf(LB_ERR_FORMAT, "%s: the GPTQ config has no \"bits\"", dir);
    if (!cJSON_IsNumber(v) || (v->valuedouble != 2 && v->valuedouble != 3 && v->valuedouble != 4 &&
                               v->valuedouble != 8))
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: \"%s\" must be 2, 3, 4 or 8 (the GPTQ layouts lowbit reads)", from,
                         key);
    cfg->bits = v->valueint;

    const char *k_group[] = {"group_size", "q_group_size", NULL};
    v = src_get(s, k_group, &from, &key);
    if (!v) return lb_errorf(LB_ERR_FORMAT, "%s: the GPTQ config has no \"group_size\"", dir);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)v->valueint || (v->valueint != -1 && v->valueint <= 0))
        return lb_errorf(LB_ERR_FORMAT, "%s: \"%s\" must be -1 or a positive integer", from, key);
    cfg->group_size = v->valueint;

    bool found;
    LB_TRY(get_bool(s, "sym", true, &cfg->sym, &found));
    if (!found) fprintf(stderr, "lowbit: warning: %s: the GPTQ config has no \"sym\"; assuming true\n", dir);
    LB_TRY(get_bool(s, "desc_act", false, &cfg->desc_act, &found));
    LB_TRY(get_bool(s, "lm_head", false, &cfg->lm_head, &found));
    bool marlin = false;
    LB_TRY(get_bool(s, "is_marlin_format", false, &marlin, &found));
    if (marlin)
        return lb_errorf(LB_ERR_UNSUPPORTED, "%s: is_marlin_format is true: the Marlin layout is not read by lowbit "
                         "(convert the checkpoint back to \"gptq\")", dir);

    const char *k_base[] = {"model_file_base_name", NULL};
    v = src_get(s, k_base, &from, &key);
    if (v && (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof cfg->file_base || strchr(v->valuestring, '/')))
        return lb_errorf(LB_ERR_FORMAT, "%s: \"%s\" must be a file name (without '/', under %zu bytes)", from, key,
                         sizeof cfg->file_base);
    if (v) snprintf(cfg->file_base, sizeof cfg->file_base, "%s", v->valuestring);

    const char *k_fmt[] = {"checkpoint_format", "format", NULL};
    v = src_get(s, k_fmt, &from, &key);
    cfg->v2 = false;
    if (v) {
        if (!cJSON_IsString(v)) return lb_errorf(LB_ERR_FORMAT, "%s: \"%s\" must be a string", from, key);
        if (!strcmp(v->valuestring, "gptq_v2")) cfg->v2 = true;
        else if (strcmp(v->valuestring, "gptq"))
            return lb_errorf(LB_ERR_UNSUPPORTED,
                             "%s: \"%s\" is \"%s\"; lowbit reads the \"gptq\" (v1) and \"gptq_v2\" layouts", from, key,
                             v->valuestring);
    }
    return lb_ok();
}

lb_status lb_gptq_config_load(const char *dir, lb_gptq_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    gptq_src s;
    LB_TRY(src_open(dir, &s));
    lb_status st = parse(&s, dir, cfg);
    src_free(&s);
    return st;
}

lb_status lb_gptq_open_weights(const char *dir, const lb_gptq_config *cfg, lb_ckpt *ck)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    bool hf = file_exists(path);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    hf = hf || file_exists(path);
    if (cfg->file_base[0]) snprintf(path, sizeof path, "%s/%s.safetensors", dir, cfg->file_base);
    else snprintf(path, sizeof path, "%s/gptq_model-%dbit-%dg.safetensors", dir, cfg->bits, cfg->group_size);
    if (hf || !file_exists(path)) return lb_ckpt_open(ck, dir);   /* its layouts, or its error */
    memset(ck, 0, sizeof *ck);
    ck->dir = strdup(dir);
    ck->files = calloc(1, sizeof *ck->files);
    if (!ck->dir || !ck->files) {
        lb_ckpt_close(ck);
        return lb_errorf(LB_ERR_OOM, "%s: out of memory", dir);
    }
    lb_status st = lb_st_open(&ck->files[0], path);
    if (lb_failed(&st)) lb_ckpt_close(ck);
    else ck->n_files = 1;
    return st;
}

cJSON *lb_gptq_config_json(const lb_gptq_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const char *fmt = cfg->v2 ? "gptq_v2" : "gptq";
    bool ok = cJSON_AddNumberToObject(o, "bits", cfg->bits) && cJSON_AddNumberToObject(o, "group_size", cfg->group_size) &&
              cJSON_AddNumberToObject(o, "damp_percent", 0.01) && cJSON_AddBoolToObject(o, "desc_act", cfg->desc_act) &&
              cJSON_AddBoolToObject(o, "static_groups", false) && cJSON_AddBoolToObject(o, "sym", cfg->sym) &&
              cJSON_AddBoolToObject(o, "true_sequential", true) && cJSON_AddBoolToObject(o, "lm_head", cfg->lm_head) &&
              cJSON_AddStringToObject(o, "quant_method", "gptq") &&
              cJSON_AddStringToObject(o, "checkpoint_format", fmt) && cJSON_AddStringToObject(o, "format", fmt) &&
              cJSON_AddStringToObject(o, "pack_dtype", "int32") &&
              cJSON_AddStringToObject(o, "model_file_base_name", "model");
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
