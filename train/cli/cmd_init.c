/* cmd_init.c — `lowbit init`: a randomly initialised HF checkpoint from a
 * named preset or an HF-style config.json.
 *
 *   lowbit init --config NAME|FILE.json --out DIR [--seed N] [--dtype f32|bf16|f16]
 *               [--tokenizer DIR|tokenizer.json] [--vocab-size N] [--force] [--json]
 *
 * Here --config names the model config, not a flags file (the shared flag
 * parser's --config is taken out of argv before parsing). With --tokenizer,
 * tokenizer.json (and tokenizer_config.json / special_tokens_map.json beside
 * it) is copied into DIR, vocab_size becomes the tokenizer's (or --vocab-size,
 * which may be larger, never smaller) and bos/eos ids come from it. Everything
 * is written into a temporary directory beside DIR and moved in file by file,
 * so a failure leaves DIR as it was; an existing non-empty DIR needs --force.
 *
 * Not a training command and not a converter: weights are random.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/tokenizer.h"
#include "layers/fileio.h"
#include "layers/model.h"
#include "train/cli/commands.h"
#include "train/cli/common.h"
#include "train/cli/presets.h"

typedef struct init_opts {
    const char *config, *out, *dtype, *tokenizer;
    int64_t seed, vocab_size;
    bool force, json;
} init_opts;

/* ---- files ---------------------------------------------------------------------- */

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* dir_state: 0 absent, 1 empty directory, 2 non-empty directory, 3 not a directory. */
static int dir_state(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return 0;
    if (!S_ISDIR(sb.st_mode)) return 3;
    DIR *d = opendir(path);
    if (!d) return 2;
    int state = 1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) state = 2;
    closedir(d);
    return state;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = lb_path_join(dir, e->d_name);
        if (p) remove(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

/* make_parents: creates the missing directories above `path` (mkdir -p of
 * its parent). */
static lb_status make_parents(const char *path)
{
    char buf[4200];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return lb_errorf(LB_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    return lb_ok();
}

static bool is_weights_file(const char *name)
{
    return !strcmp(name, "model.safetensors") || !strcmp(name, "model.safetensors.index.json") ||
           (!strncmp(name, "model-", 6) && strstr(name, "-of-") && strstr(name, ".safetensors"));
}

/* move_into: renames every file of tmp into out (created if absent); weight
 * files of an earlier model in out that tmp does not have are removed, so the
 * directory never mixes two checkpoints. */
static lb_status move_into(const char *tmp, const char *out)
{
    if (mkdir(out, 0777) != 0 && errno != EEXIST)
        return lb_errorf(LB_ERR_IO, "%s: cannot create directory: %s", out, strerror(errno));
    DIR *d = opendir(out);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!is_weights_file(e->d_name)) continue;
        char *in_tmp = lb_path_join(tmp, e->d_name), *old = lb_path_join(out, e->d_name);
        if (in_tmp && old && !is_file(in_tmp)) remove(old);
        free(in_tmp);
        free(old);
    }
    if (d) closedir(d);
    d = opendir(tmp);
    if (!d) return lb_errorf(LB_ERR_IO, "%s: cannot read: %s", tmp, strerror(errno));
    lb_status st = lb_ok();
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *from = lb_path_join(tmp, e->d_name), *to = lb_path_join(out, e->d_name);
        if (!from || !to || rename(from, to) != 0)
            st = lb_errorf(LB_ERR_IO, "%s: cannot move %s into it: %s", out, e->d_name, strerror(errno));
        free(from);
        free(to);
        if (lb_failed(&st)) break;
    }
    closedir(d);
    return st;
}

/* ---- the command ---------------------------------------------------------------- */

static lb_status parse_dtype(const char *s, lb_dtype *dt)
{
    if (!strcmp(s, "f32") || !strcmp(s, "float32")) *dt = LB_F32;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) *dt = LB_BF16;
    else if (!strcmp(s, "f16") || !strcmp(s, "float16")) *dt = LB_F16;
    else return lb_errorf(LB_ERR_ARG, "init: --dtype must be f32, bf16 or f16, got '%s'", s);
    return lb_ok();
}

/* apply_tokenizer: vocab size and special ids from the tokenizer; copies its
 * files into tmp. */
static lb_status apply_tokenizer(const init_opts *o, lb_model_config *c, const char *tmp)
{
    char *json = NULL, *dir = NULL;
    struct stat sb;
    if (stat(o->tokenizer, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        dir = strdup(o->tokenizer);
        json = lb_path_join(o->tokenizer, "tokenizer.json");
    } else {
        json = strdup(o->tokenizer);
        const char *slash = strrchr(o->tokenizer, '/');
        dir = slash ? strndup(o->tokenizer, (size_t)(slash - o->tokenizer)) : strdup(".");
    }
    lb_tokenizer *tok = NULL;
    lb_status st = (json && dir) ? lb_tokenizer_load(json, &tok) : lb_errorf(LB_ERR_OOM, "out of memory");
    if (lb_failed(&st)) goto out;
    int64_t tv = lb_tokenizer_vocab_size(tok);
    if (o->vocab_size > 0 && o->vocab_size < tv) {
        st = lb_errorf(LB_ERR_ARG, "init: --vocab-size %lld is smaller than the tokenizer's vocabulary (%lld ids in %s)",
                       (long long)o->vocab_size, (long long)tv, json);
        goto out;
    }
    c->vocab_size = o->vocab_size > 0 ? o->vocab_size : tv;
    if (lb_tokenizer_bos_id(tok) >= 0) c->bos_id = lb_tokenizer_bos_id(tok);
    if (lb_tokenizer_eos_id(tok) >= 0) c->eos_id = lb_tokenizer_eos_id(tok);

    const char *files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
    for (int i = 0; i < 3 && !lb_failed(&st); i++) {
        char *from = i == 0 ? strdup(json) : lb_path_join(dir, files[i]);
        char *to = lb_path_join(tmp, files[i]);
        if (from && to && (i == 0 || is_file(from))) st = lb_copy_file(from, to);
        free(from);
        free(to);
    }
out:
    lb_tokenizer_free(tok);
    free(json);
    free(dir);
    return st;
}

static void print_help_extra(void)
{
    printf("\npresets (--config NAME):\n");
    lb_cli_presets_print(stdout);
    printf("--config FILE.json: an HF config.json (llama, mistral, qwen2, gpt2).\n");
}

static lb_status run(const init_opts *o, const char *spec)
{
    lb_dtype dtype = LB_F32;
    LB_TRY(parse_dtype(o->dtype, &dtype));
    if (!o->out) return lb_errorf(LB_ERR_ARG, "init: --out DIR is required");
    int state = dir_state(o->out);
    if (state == 3) return lb_errorf(LB_ERR_ARG, "init: --out %s exists and is not a directory", o->out);
    if (state == 2 && !o->force)
        return lb_errorf(LB_ERR_ARG, "init: --out %s exists and is not empty (use --force to overwrite its model files)",
                         o->out);
    if (o->vocab_size < 0) return lb_errorf(LB_ERR_ARG, "init: --vocab-size must be positive");

    lb_model_config cfg;
    LB_TRY(lb_cli_model_config("init", spec, &cfg));
    if (o->vocab_size > 0) cfg.vocab_size = o->vocab_size;

    char tmp[4200];
    size_t olen = strlen(o->out);
    while (olen > 1 && o->out[olen - 1] == '/') olen--; /* "dir/" -> "dir.tmp.N", not inside dir */
    snprintf(tmp, sizeof tmp, "%.*s.tmp.%ld", (int)olen, o->out, (long)getpid());
    LB_TRY(make_parents(tmp));
    if (mkdir(tmp, 0777) != 0) return lb_errorf(LB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    lb_model m;
    memset(&m, 0, sizeof m);
    lb_status st = o->tokenizer ? apply_tokenizer(o, &cfg, tmp) : lb_ok();
    if (!lb_failed(&st)) st = lb_config_validate(&cfg, spec);
    if (!lb_failed(&st)) st = lb_model_init_random(&m, &cfg, (uint64_t)o->seed);
    if (!lb_failed(&st)) st = lb_model_save(&m, tmp, dtype);
    if (!lb_failed(&st)) st = move_into(tmp, o->out);
    lb_model_free(&m);
    remove_tree(tmp);
    if (lb_failed(&st)) return st;

    int64_t n = lb_config_n_params(&cfg);
    if (o->json) {
        printf("{\"out\": \"%s\", \"config\": \"%s\", \"model_type\": \"%s\", \"params\": %lld, \"dtype\": \"%s\", "
               "\"vocab_size\": %lld, \"seed\": %lld}\n",
               o->out, spec, cfg.model_type, (long long)n, lb_dtype_name(dtype), (long long)cfg.vocab_size,
               (long long)o->seed);
    } else {
        printf("lowbit init: %s -> %s\n", spec, o->out);
        printf("  %s, %lld parameters (%.2fM): hidden %lld, %lld layers, %lld heads (%lld kv, head_dim %lld), "
               "intermediate %lld, vocab %lld%s\n",
               cfg.model_type, (long long)n, (double)n / 1e6, (long long)cfg.hidden_size, (long long)cfg.n_layers,
               (long long)cfg.n_heads, (long long)cfg.n_kv_heads, (long long)cfg.head_dim,
               (long long)cfg.intermediate_size, (long long)cfg.vocab_size, cfg.tie_embeddings ? ", tied head" : "");
        printf("  weights %s, seed %lld%s%s\n", lb_dtype_name(dtype), (long long)o->seed,
               o->tokenizer ? ", tokenizer from " : "", o->tokenizer ? o->tokenizer : "");
    }
    return lb_ok();
}

int lb_cmd_init(int argc, char **argv)
{
    init_opts o = {.dtype = "f32"};
    const lb_flag flags[] = {
        {"out", LB_FLAG_STR, &o.out, "the model directory to write (config.json, model.safetensors, tokenizer)"},
        {"seed", LB_FLAG_INT, &o.seed, "random seed (default 0); the same seed gives the same weights everywhere"},
        {"dtype", LB_FLAG_STR, &o.dtype, "storage dtype of the weights: f32 (default), bf16 or f16"},
        {"tokenizer", LB_FLAG_STR, &o.tokenizer,
         "a tokenizer.json (or a directory holding one) to copy in; sets vocab_size and bos/eos ids"},
        {"vocab-size", LB_FLAG_INT, &o.vocab_size, "vocabulary size (default: the tokenizer's, else the preset's)"},
        {"force", LB_FLAG_BOOL, &o.force, "write into a non-empty --out, replacing its model files"},
        {"json", LB_FLAG_BOOL, &o.json, "print the result as one JSON object on stdout"},
    };
    lb_flag_store store = {0};
    lb_cli_cmd cmd = {
        .name = "init",
        .summary = "Write a randomly initialised Hugging Face checkpoint from a named preset or a config.json. "
                   "Here --config names the model config (a preset or FILE.json), not a flags file.",
        .usage = "lowbit init --config NAME|FILE.json --out DIR [--seed N] [--dtype f32|bf16|f16] "
                 "[--tokenizer PATH] [--vocab-size N] [--force] [--json]",
        .flags = flags,
        .n_flags = (int)(sizeof flags / sizeof flags[0]),
        .store = &store,
    };

    /* take --config out of argv: for init it is the model config */
    const char *spec = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, rc = 0;
    lb_status st = lb_ok();
    if (!rest) {
        st = lb_errorf(LB_ERR_OOM, "out of memory");
        return lb_cli_error(&st);
    }
    st = lb_cli_take_config("init", argc, argv, &spec, rest, &nrest);
    bool help = false;
    if (!lb_failed(&st)) st = lb_flags_parse(&cmd, nrest, rest, &help);
    if (!lb_failed(&st) && help) {
        lb_flags_help(&cmd, stdout);
        print_help_extra();
        goto out;
    }
    if (!lb_failed(&st) && !spec)
        st = lb_errorf(LB_ERR_ARG, "init: --config NAME|FILE.json is required (see lowbit help init)");
    if (!lb_failed(&st)) st = run(&o, spec);
    if (lb_failed(&st)) rc = lb_cli_error(&st);
out:
    free(rest);
    lb_flag_store_free(&store);
    return rc;
}
