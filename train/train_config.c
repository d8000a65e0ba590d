/* train_config.c — the training configuration: one field table drives
 * defaults, flags, config.json, printing and the resume check (see
 * train_config.h). */
#include "train/train_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/h5data.h"
#include "layers/fileio.h"
#include "train/cli/flags.h"

typedef enum ftype { F_STR, F_INT, F_FLOAT, F_BOOL } ftype;

typedef struct field {
    const char *name;     /* flag name (dashes); config.json uses underscores */
    ftype type;
    size_t off;
    bool meaning;         /* changes what the run computes: must match on resume */
    const char *help;
} field;

#define FLD(n, t, member, m, h) {n, t, offsetof(lb_train_config, member), m, h}

static const field k_fields[] = {
    FLD("model", F_STR, model, true, "HF model directory to start from"),
    FLD("data", F_STR, data, true, "training split (.h5 from lowbit data)"),
    FLD("val", F_STR, val, false, "validation split (default: the .val.h5 beside --data; \"\" for none)"),
    FLD("out", F_STR, out, false, "run directory (config.json, metrics.jsonl, ckpt-<step>.h5, model/)"),
    FLD("steps", F_INT, steps, true, "optimizer steps (default 100)"),
    FLD("batch", F_INT, batch, true, "sequences per optimizer step per rank (default 8)"),
    FLD("micro-batch", F_INT, micro_batch, false, "sequences per forward pass (default: --batch; accumulates)"),
    FLD("ctx", F_INT, ctx, true, "tokens per sequence (default 256)"),
    FLD("lr", F_FLOAT, lr, true, "peak learning rate (default 3e-4)"),
    FLD("min-lr", F_FLOAT, min_lr, true, "final learning rate of the decay (default lr/10)"),
    FLD("warmup", F_INT, warmup, true, "linear warmup steps (default 0)"),
    FLD("schedule", F_STR, schedule, true, "cosine|linear|constant (default cosine)"),
    FLD("weight-decay", F_FLOAT, weight_decay, true, "AdamW weight decay of 2-D weights (default 0.01)"),
    FLD("beta1", F_FLOAT, beta1, true, "AdamW beta1 (default 0.9)"),
    FLD("beta2", F_FLOAT, beta2, true, "AdamW beta2 (default 0.999)"),
    FLD("eps", F_FLOAT, eps, true, "AdamW eps (default 1e-8)"),
    FLD("clip", F_FLOAT, clip, true, "clip the global grad norm to this (default 1; 0 = off)"),
    FLD("wq", F_STR, wq, true, "weight quantizer spec (QAT), e.g. int4:g32:asym"),
    FLD("aq", F_STR, aq, true, "activation quantizer spec, e.g. int8:token"),
    FLD("q-lr", F_FLOAT, q_lr, true, "learning rate of quantizer parameters (default: --lr)"),
    FLD("q-weight-decay", F_FLOAT, q_weight_decay, true, "weight decay of quantizer parameters (default 0)"),
    FLD("quantize-layers", F_STR, quantize_layers, true,
        "all|attn|mlp or a comma list of q,k,v,o,qkv,gate,up,down (default all)"),
    FLD("quantize-embeddings", F_BOOL, quantize_embeddings, true, "fake-quantize the token embedding too"),
    FLD("quantize-head", F_BOOL, quantize_head, true, "fake-quantize the LM head too"),
    FLD("calib-batches", F_INT, calib_batches, true,
        "training batches observed before step 0 to calibrate --aq int8:tensor:static (absmax; default 8)"),
    FLD("kd", F_BOOL, kd, true, "distil from the unquantized starting model"),
    FLD("kd-temperature", F_FLOAT, kd_temperature, true, "KD temperature tau (default 1)"),
    FLD("kd-alpha", F_FLOAT, kd_alpha, true, "loss = alpha*KD + (1-alpha)*CE (default 1)"),
    FLD("eval-every", F_INT, eval_every, false, "validation perplexity every N steps and at the end (0 = end only)"),
    FLD("eval-windows", F_INT, eval_windows, false, "validation windows of --ctx tokens (default 16)"),
    FLD("save-every", F_INT, save_every, false, "checkpoint every N steps (default 0: at the end only)"),
    FLD("log-every", F_INT, log_every, false, "metrics line every N steps (default 1)"),
    FLD("keep-ckpts", F_INT, keep_ckpts, false, "checkpoints kept (default 2)"),
    FLD("max-bad-steps", F_INT, max_bad_steps, false, "stop after N non-finite losses in a row (default 3)"),
    FLD("seed", F_INT, seed, true, "data order seed (default 1)"),
    FLD("device", F_STR, device, false, "cpu|cuda|auto (default auto)"),
    FLD("threads", F_INT, threads, false, "CPU threads (default: all)"),
    FLD("recompute", F_STR, recompute, false,
        "none|blocks: keep only each block's input in the forward and rerun the block in backward "
        "(less memory, about one more forward; same numbers) (default none)"),
    FLD("resume", F_BOOL, resume, false, "continue the run in --out from its newest checkpoint"),
    FLD("json", F_BOOL, json, false, "print the final result as one JSON object"),
};
#define NF ((int)(sizeof k_fields / sizeof k_fields[0]))
_Static_assert(sizeof k_fields / sizeof k_fields[0] <= LB_TRAIN_MAX_FLAGS, "raise LB_TRAIN_MAX_FLAGS");

static char **str_at(lb_train_config *c, int k) { return (char **)((char *)c + k_fields[k].off); }
static int64_t *int_at(lb_train_config *c, int k) { return (int64_t *)((char *)c + k_fields[k].off); }
static double *flt_at(lb_train_config *c, int k) { return (double *)((char *)c + k_fields[k].off); }
static bool *bool_at(lb_train_config *c, int k) { return (bool *)((char *)c + k_fields[k].off); }
#define CFIELD(c, k, T) (*(const T *)((const char *)(c) + k_fields[k].off))

static void set_str(lb_train_config *c, int k, const char *v)
{
    char *d = strdup(v ? v : "");
    LB_CHECKF(d != NULL, "out of memory copying --%s", k_fields[k].name);
    free(*str_at(c, k));
    *str_at(c, k) = d;
}

static int find_field(const char *name)
{
    for (int k = 0; k < NF; k++) {
        const char *a = k_fields[k].name, *b = name;
        while (*a && *b && (*a == *b || ((*a == '-' || *a == '_') && (*b == '-' || *b == '_')))) a++, b++;
        if (!*a && !*b) return k;
    }
    return -1;
}

void lb_train_config_defaults(lb_train_config *c)
{
    memset(c, 0, sizeof *c);
    for (int k = 0; k < NF; k++)
        if (k_fields[k].type == F_STR) set_str(c, k, "");
    set_str(c, find_field("schedule"), "cosine");
    set_str(c, find_field("quantize-layers"), "all");
    set_str(c, find_field("device"), "auto");
    set_str(c, find_field("recompute"), "none");
    c->steps = 100;
    c->batch = 8;
    c->micro_batch = 0;       /* resolved to batch */
    c->ctx = 256;
    c->lr = 3e-4;
    c->min_lr = -1;           /* resolved to lr/10 */
    c->weight_decay = 0.01;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->clip = 1.0;
    c->q_lr = -1;             /* resolved to lr */
    c->kd_temperature = 1.0;
    c->calib_batches = 8;
    c->kd_alpha = 1.0;
    c->eval_windows = 16;
    c->log_every = 1;
    c->keep_ckpts = 2;
    c->max_bad_steps = 3;
    c->seed = 1;
    free(c->val);
    c->val = NULL;            /* resolved: NULL means "the default beside --data" */
}

void lb_train_config_free(lb_train_config *c)
{
    if (!c) return;
    for (int k = 0; k < NF; k++)
        if (k_fields[k].type == F_STR) {
            free(*str_at(c, k));
            *str_at(c, k) = NULL;
        }
}

bool lb_train_config_is_qat(const lb_train_config *c)
{
    return (c->wq && c->wq[0]) || (c->aq && c->aq[0] && strcmp(c->aq, "none"));
}

/* ---- the command line ---------------------------------------------------------- */

struct lb_train_args {
    /* one slot per field and pass: the flags are parsed twice, with bools
     * preset false and then true, so a bool the user gave reads the same in
     * both; strings, ints and floats start as "not given" sentinels */
    const char *s[2][NF];
    int64_t i[2][NF];
    double d[2][NF];
    bool b[2][NF];
};

static bool given(const lb_train_args *a, int k)
{
    switch (k_fields[k].type) {
    case F_STR: return a->s[0][k] != NULL;
    case F_INT: return a->i[0][k] != INT64_MIN;
    case F_FLOAT: return !isnan(a->d[0][k]);
    case F_BOOL: return a->b[0][k] == a->b[1][k];
    }
    return false;
}

lb_train_args *lb_train_args_new(void)
{
    lb_train_args *a = calloc(1, sizeof *a);
    LB_CHECKF(a != NULL, "out of memory");
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < NF; k++) {
            a->i[p][k] = INT64_MIN;
            a->d[p][k] = NAN;
            a->b[p][k] = p == 1;
        }
    return a;
}

int lb_train_args_flags(lb_train_args *a, int pass, lb_flag *flags)
{
    LB_CHECK(pass == 0 || pass == 1);
    for (int k = 0; k < NF; k++) {
        flags[k].name = k_fields[k].name;
        flags[k].help = k_fields[k].help;
        switch (k_fields[k].type) {
        case F_STR: flags[k].type = LB_FLAG_STR; flags[k].dst = &a->s[pass][k]; break;
        case F_INT: flags[k].type = LB_FLAG_INT; flags[k].dst = &a->i[pass][k]; break;
        case F_FLOAT: flags[k].type = LB_FLAG_FLOAT; flags[k].dst = &a->d[pass][k]; break;
        case F_BOOL: flags[k].type = LB_FLAG_BOOL; flags[k].dst = &a->b[pass][k]; break;
        }
    }
    return NF;
}

void lb_train_args_free(lb_train_args *a) { free(a); }

/* ---- resolving -------------------------------------------------------------------- */

static void value_str(const lb_train_config *c, int k, char *buf, size_t n)
{
    switch (k_fields[k].type) {
    case F_STR: snprintf(buf, n, "\"%s\"", CFIELD(c, k, char *) ? CFIELD(c, k, char *) : ""); break;
    case F_INT: snprintf(buf, n, "%lld", (long long)CFIELD(c, k, int64_t)); break;
    case F_FLOAT: snprintf(buf, n, "%.17g", CFIELD(c, k, double)); break;
    case F_BOOL: snprintf(buf, n, "%s", CFIELD(c, k, bool) ? "true" : "false"); break;
    }
}

static bool same_value(const lb_train_config *c, int k, const lb_train_args *a)
{
    switch (k_fields[k].type) {
    case F_STR: return !strcmp(CFIELD(c, k, char *), a->s[0][k]);
    case F_INT: return CFIELD(c, k, int64_t) == a->i[0][k];
    case F_FLOAT: return CFIELD(c, k, double) == a->d[0][k];
    case F_BOOL: return CFIELD(c, k, bool) == a->b[0][k];
    }
    return true;
}

static void apply_given(lb_train_config *c, const lb_train_args *a, int k)
{
    switch (k_fields[k].type) {
    case F_STR: set_str(c, k, a->s[0][k]); break;
    case F_INT: *int_at(c, k) = a->i[0][k]; break;
    case F_FLOAT: *flt_at(c, k) = a->d[0][k]; break;
    case F_BOOL: *bool_at(c, k) = a->b[0][k]; break;
    }
}

static bool valid_layers(const char *s)
{
    if (!strcmp(s, "all") || !strcmp(s, "attn") || !strcmp(s, "mlp")) return true;
    static const char *names[] = {"q", "k", "v", "o", "qkv", "gate", "up", "down"};
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        bool ok = false;
        for (size_t j = 0; j < sizeof names / sizeof names[0]; j++)
            if (strlen(names[j]) == n && !strncmp(p, names[j], n)) ok = true;
        if (!ok) return false;
        p += n;
        if (*p == ',') p++;
    }
    return *s != '\0';
}

static lb_status check(const lb_train_config *c)
{
#define REQ(cond, ...) do { if (!(cond)) return lb_errorf(LB_ERR_ARG, "train: " __VA_ARGS__); } while (0)
    REQ(c->model[0], "--model is required (an HF model directory)");
    REQ(c->data[0], "--data is required (a .h5 token file from lowbit data)");
    REQ(c->out[0], "--out is required (the run directory)");
    REQ(c->steps >= 1, "--steps must be >= 1, got %lld", (long long)c->steps);
    REQ(c->batch >= 1, "--batch must be >= 1, got %lld", (long long)c->batch);
    REQ(c->micro_batch >= 1 && c->micro_batch <= c->batch && c->batch % c->micro_batch == 0,
        "--micro-batch must divide --batch %lld, got %lld", (long long)c->batch, (long long)c->micro_batch);
    REQ(c->ctx >= 2, "--ctx must be >= 2, got %lld", (long long)c->ctx);
    REQ(c->lr > 0 && isfinite(c->lr), "--lr must be > 0, got %g", c->lr);
    REQ(c->min_lr >= 0 && c->min_lr <= c->lr, "--min-lr must lie in [0, --lr], got %g", c->min_lr);
    REQ(c->warmup >= 0, "--warmup must be >= 0, got %lld", (long long)c->warmup);
    REQ(!strcmp(c->schedule, "cosine") || !strcmp(c->schedule, "linear") || !strcmp(c->schedule, "constant"),
        "--schedule must be cosine, linear or constant, got '%s'", c->schedule);
    REQ(c->weight_decay >= 0, "--weight-decay must be >= 0, got %g", c->weight_decay);
    REQ(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1,
        "--beta1/--beta2 must lie in [0, 1), got %g and %g", c->beta1, c->beta2);
    REQ(c->eps > 0, "--eps must be > 0, got %g", c->eps);
    REQ(c->clip >= 0, "--clip must be >= 0 (0 = off), got %g", c->clip);
    REQ(c->q_lr >= 0, "--q-lr must be >= 0, got %g", c->q_lr);
    REQ(c->q_weight_decay >= 0, "--q-weight-decay must be >= 0, got %g", c->q_weight_decay);
    REQ(valid_layers(c->quantize_layers),
        "--quantize-layers must be all, attn, mlp or a comma list of q,k,v,o,qkv,gate,up,down; got '%s'",
        c->quantize_layers);
    REQ(c->kd_temperature > 0, "--kd-temperature must be > 0, got %g", c->kd_temperature);
    REQ(c->calib_batches >= 1, "--calib-batches must be >= 1, got %lld", (long long)c->calib_batches);
    REQ(c->kd_alpha >= 0 && c->kd_alpha <= 1, "--kd-alpha must lie in [0, 1], got %g", c->kd_alpha);
    REQ(c->eval_every >= 0 && c->eval_windows >= 0, "--eval-every and --eval-windows must be >= 0");
    REQ(c->save_every >= 0, "--save-every must be >= 0, got %lld", (long long)c->save_every);
    REQ(c->log_every >= 1, "--log-every must be >= 1, got %lld", (long long)c->log_every);
    REQ(c->keep_ckpts >= 1, "--keep-ckpts must be >= 1, got %lld", (long long)c->keep_ckpts);
    REQ(c->max_bad_steps >= 1, "--max-bad-steps must be >= 1, got %lld", (long long)c->max_bad_steps);
    REQ(c->threads >= 0, "--threads must be >= 0, got %lld", (long long)c->threads);
    REQ(!strcmp(c->device, "cpu") || !strcmp(c->device, "cuda") || !strcmp(c->device, "auto"),
        "--device must be cpu, cuda or auto, got '%s'", c->device);
    REQ(!strcmp(c->recompute, "none") || !strcmp(c->recompute, "blocks"),
        "--recompute must be none or blocks, got '%s'", c->recompute);
#undef REQ
    return lb_ok();
}

lb_status lb_train_config_resolve(const lb_train_args *a, lb_train_config *c)
{
    int k_resume = find_field("resume"), k_out = find_field("out");
    bool resume = given(a, k_resume) && a->b[0][k_resume];
    lb_train_config_defaults(c);
    if (resume) {
        if (!given(a, k_out) || !a->s[0][k_out][0]) {
            lb_train_config_free(c);
            return lb_errorf(LB_ERR_ARG, "train: --resume needs --out (the run directory to continue)");
        }
        char *path = lb_path_join(a->s[0][k_out], "config.json");
        LB_CHECK(path != NULL);
        lb_status st = lb_train_config_load(path, c);
        free(path);
        if (lb_failed(&st)) {
            lb_train_config_free(c);
            return lb_status_prefix(st, "train --resume: %s is not a run directory lowbit can continue",
                                    a->s[0][k_out]);
        }
        for (int k = 0; k < NF; k++) {
            if (!given(a, k) || !k_fields[k].meaning || same_value(c, k, a)) continue;
            char saved[600];
            value_str(c, k, saved, sizeof saved);
            lb_status e = lb_errorf(LB_ERR_ARG,
                                    "train --resume: --%s differs from the run's saved value %s (in %s/config.json); "
                                    "it changes what the run computes, so drop the flag or start a new --out",
                                    k_fields[k].name, saved, a->s[0][k_out]);
            lb_train_config_free(c);
            return e;
        }
    }
    for (int k = 0; k < NF; k++)
        if (given(a, k)) apply_given(c, a, k);
    c->resume = resume;
    /* derived values */
    if (c->micro_batch == 0) c->micro_batch = c->batch;
    if (c->min_lr < 0) c->min_lr = c->lr / 10;
    if (c->q_lr < 0) c->q_lr = c->lr;
    if (!c->val) {
        char *v = c->data[0] ? lb_h5_val_path(c->data) : strdup("");
        LB_CHECK(v != NULL);
        c->val = v;
    }
    if (!strcmp(c->aq, "none")) set_str(c, find_field("aq"), "");
    lb_status st = check(c);
    if (lb_failed(&st)) lb_train_config_free(c);
    return st;
}

/* ---- printing and files -------------------------------------------------------------- */

void lb_train_config_print(const lb_train_config *c, FILE *f)
{
    fprintf(f, "config:\n");
    for (int k = 0; k < NF; k++) {
        char v[600];
        value_str(c, k, v, sizeof v);
        if (k_fields[k].type == F_STR) snprintf(v, sizeof v, "%s", CFIELD(c, k, char *) ? CFIELD(c, k, char *) : "");
        fprintf(f, "  %-20s %s\n", k_fields[k].name, v);
    }
}

char *lb_train_config_to_json(const lb_train_config *c)
{
    cJSON *o = cJSON_CreateObject();
    LB_CHECK(o != NULL);
    for (int k = 0; k < NF; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s", k_fields[k].name);
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        switch (k_fields[k].type) {
        case F_STR: cJSON_AddStringToObject(o, key, CFIELD(c, k, char *)); break;
        case F_INT: cJSON_AddNumberToObject(o, key, (double)CFIELD(c, k, int64_t)); break;
        case F_FLOAT: cJSON_AddNumberToObject(o, key, CFIELD(c, k, double)); break;
        case F_BOOL: cJSON_AddBoolToObject(o, key, CFIELD(c, k, bool)); break;
        }
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    LB_CHECK(s != NULL);
    return s;
}

static lb_status write_text(FILE *fp, void *ud)
{
    const char *s = ud;
    if (fputs(s, fp) < 0 || fputc('\n', fp) < 0) return lb_errorf(LB_ERR_IO, "write failed");
    return lb_ok();
}

lb_status lb_train_config_save(const lb_train_config *c, const char *path)
{
    char *s = lb_train_config_to_json(c);
    lb_status st = lb_atomic_write(path, write_text, s);
    free(s);
    return st;
}

lb_status lb_train_config_load(const char *path, lb_train_config *c)
{
    char *text = NULL;
    LB_TRY(lb_read_file(path, &text, NULL));
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return lb_errorf(LB_ERR_FORMAT, "%s: not a JSON object", path);
    }
    lb_status st = lb_ok();
    for (cJSON *it = o->child; it && !lb_failed(&st); it = it->next) {
        int k = find_field(it->string);
        if (k < 0) {
            st = lb_errorf(LB_ERR_FORMAT, "%s: unknown key '%s'", path, it->string);
            break;
        }
        bool ok = true;
        switch (k_fields[k].type) {
        case F_STR:
            ok = cJSON_IsString(it);
            if (ok) set_str(c, k, it->valuestring);
            break;
        case F_INT:
            ok = cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble);
            if (ok) *int_at(c, k) = (int64_t)it->valuedouble;
            break;
        case F_FLOAT:
            ok = cJSON_IsNumber(it);
            if (ok) *flt_at(c, k) = it->valuedouble;
            break;
        case F_BOOL:
            ok = cJSON_IsBool(it);
            if (ok) *bool_at(c, k) = cJSON_IsTrue(it);
            break;
        }
        if (!ok) st = lb_errorf(LB_ERR_FORMAT, "%s: '%s' has the wrong type", path, it->string);
    }
    cJSON_Delete(o);
    return st;
}
