/* cmd_generate.c — `lowbit generate`: text continuation with a KV cache.
 *
 * Tokenizes the prompt (BOS prepended when the tokenizer has one distinct
 * from EOS, unless --bos no), runs the prompt through the model once, then
 * samples one token at a time (greedy when --temperature 0) until EOS or
 * --max-tokens. Text streams to stdout as it is decoded; --json prints one
 * object with the ids and text at the end instead.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/cli/commands.h"
#include "train/cli/common.h"
#include "train/sample.h"

typedef struct gen_flags {
    const char *model, *tokenizer, *prompt, *device, *bos;
    int64_t max_tokens, top_k, seed, threads;
    double temperature, top_p;
    bool json;
} gen_flags;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Length of the longest prefix of s that ends on a complete UTF-8 character
 * and not in a U+FFFD produced by a partial one at the very end. */
static size_t stable_prefix(const char *s, size_t n)
{
    if (n >= 3 && !memcmp(s + n - 3, "\xEF\xBF\xBD", 3)) return n - 3;
    return n;
}

static lb_status check_flags(const gen_flags *f)
{
    if (!f->prompt) return lb_errorf(LB_ERR_ARG, "generate: --prompt is required");
    if (f->max_tokens < 1) return lb_errorf(LB_ERR_ARG, "generate: --max-tokens must be >= 1");
    if (f->temperature < 0) return lb_errorf(LB_ERR_ARG, "generate: --temperature must be >= 0");
    if (f->top_k < 0) return lb_errorf(LB_ERR_ARG, "generate: --top-k must be >= 0");
    if (!(f->top_p > 0 && f->top_p <= 1)) return lb_errorf(LB_ERR_ARG, "generate: --top-p must be in (0, 1]");
    if (strcmp(f->bos, "auto") && strcmp(f->bos, "yes") && strcmp(f->bos, "no"))
        return lb_errorf(LB_ERR_ARG, "generate: --bos must be auto, yes or no, got '%s'", f->bos);
    return lb_ok();
}

static lb_status prompt_ids(const gen_flags *f, const lb_tokenizer *tok, int32_t **ids, size_t *n,
                            size_t *cap)
{
    int32_t bos = lb_tokenizer_bos_id(tok), eos = lb_tokenizer_eos_id(tok);
    bool add = !strcmp(f->bos, "yes") || (!strcmp(f->bos, "auto") && bos >= 0 && bos != eos);
    if (add && bos < 0) return lb_errorf(LB_ERR_ARG, "generate: --bos yes but the tokenizer has no BOS token");
    *cap = 64;
    *n = 0;
    *ids = malloc(*cap * sizeof **ids);
    if (!*ids) return lb_errorf(LB_ERR_OOM, "out of memory");
    if (add) (*ids)[(*n)++] = bos;
    LB_TRY(lb_tokenizer_encode(tok, f->prompt, strlen(f->prompt), ids, n, cap));
    if (*n == 0) return lb_errorf(LB_ERR_ARG, "generate: the prompt is empty (no tokens)");
    return lb_ok();
}

/* Runs the loop; *ids grows with the generated tokens. */
static lb_status generate(lb_ctx *ctx, const lb_model *m, const lb_tokenizer *tok, const gen_flags *f,
                          int32_t **ids, size_t *n, size_t *cap, size_t n_prompt, double *tok_s)
{
    const int64_t V = m->cfg.vocab_size;
    int64_t max_len = (int64_t)n_prompt + f->max_tokens;
    if (m->cfg.arch == LB_ARCH_GPT2 && max_len > m->cfg.max_pos)
        return lb_errorf(LB_ERR_ARG, "generate: prompt + --max-tokens = %lld exceeds the model's %lld positions",
                         (long long)max_len, (long long)m->cfg.max_pos);
    lb_kv_cache kv;
    LB_TRY(lb_kv_cache_init(&kv, m, max_len));
    lb_prob_id *work = malloc((size_t)V * sizeof *work);
    float *last = malloc((size_t)V * sizeof *last);
    if (!work || !last) {
        free(work);
        free(last);
        lb_kv_cache_free(&kv);
        return lb_errorf(LB_ERR_OOM, "out of memory");
    }
    lb_sampler s = {(float)f->temperature, f->top_k, (float)f->top_p};
    lb_rng rng;
    lb_rng_seed(&rng, (uint64_t)f->seed);
    int32_t eos = lb_tokenizer_eos_id(tok);
    size_t printed = 0;
    double t0 = 0;
    size_t feed_from = 0;
    lb_status st = lb_ok();
    for (int64_t step = 0; step < f->max_tokens; step++) {
        int64_t T = (int64_t)(*n - feed_from);
        lb_tensor *x = lb_tensor_new(ctx, LB_I32, LB_SHAPE(1, T));                 // (1, T)
        memcpy(x->data, *ids + feed_from, (size_t)T * sizeof(int32_t));
        lb_tensor *logits = lb_model_forward(ctx, m, x, &kv);                       // (1, T, V)
        lb_tensor *row = T > 1 ? lb_slice(ctx, logits, 1, T - 1, 1) : logits;    // (1, 1, V)
        lb_tensor_copy_to_host(ctx, row, last); /* from the GPU too, widened to f32 */
        lb_ctx_step_end(ctx);
        if (step == 0) t0 = now_s(); /* decode rate excludes the prompt pass */
        int32_t next = lb_sample(&s, last, V, &rng, work);
        feed_from = *n;
        if (*n == *cap) {
            int32_t *g = realloc(*ids, *cap * 2 * sizeof **ids);
            if (!g) { st = lb_errorf(LB_ERR_OOM, "out of memory"); break; }
            *ids = g;
            *cap *= 2;
        }
        (*ids)[(*n)++] = next;
        if (next == eos) break;
        if (!f->json) {
            char *text = lb_tokenizer_decode(tok, *ids + n_prompt, *n - n_prompt);
            size_t len = stable_prefix(text, strlen(text));
            if (len > printed) {
                fwrite(text + printed, 1, len - printed, stdout);
                fflush(stdout);
                printed = len;
            }
            free(text);
        }
    }
    double el = now_s() - t0;
    *tok_s = *n - n_prompt > 1 && el > 0 ? (double)(*n - n_prompt - 1) / el : 0;
    if (!f->json) {
        char *text = lb_tokenizer_decode(tok, *ids + n_prompt, *n - n_prompt);
        size_t len = strlen(text);
        if (*n > n_prompt && (*ids)[*n - 1] == eos) {
            /* the EOS token's text is not part of the continuation */
            free(text);
            text = lb_tokenizer_decode(tok, *ids + n_prompt, *n - n_prompt - 1);
            len = strlen(text);
        }
        if (len > printed) fwrite(text + printed, 1, len - printed, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(text);
    }
    free(work);
    free(last);
    lb_kv_cache_free(&kv);
    return st;
}

static void print_json(const lb_tokenizer *tok, const int32_t *ids, size_t n, size_t n_prompt, double tok_s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = n_prompt; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
    char *text = lb_tokenizer_decode(tok, ids + n_prompt, n - n_prompt);
    cJSON_AddStringToObject(o, "text", text);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)n_prompt);
    cJSON_AddNumberToObject(o, "generated_tokens", (double)(n - n_prompt));
    cJSON_AddNumberToObject(o, "tokens_per_s", tok_s);
    char *s = cJSON_PrintUnformatted(o);
    puts(s);
    free(s);
    free(text);
    cJSON_Delete(o);
}

static lb_status run(const gen_flags *f)
{
    lb_ctx ctx;
    LB_TRY(lb_cli_ctx_init(&ctx, f->device, f->threads));
    lb_model m;
    lb_tokenizer *tok = NULL;
    lb_status st = lb_cli_load_model(&ctx, f->model, f->tokenizer, &m, &tok, f->json);
    if (lb_failed(&st)) {
        lb_ctx_free(&ctx);
        return st;
    }
    lb_ctx_set_grad(&ctx, false);
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    double tok_s = 0;
    st = prompt_ids(f, tok, &ids, &n, &cap);
    size_t n_prompt = n;
    if (!lb_failed(&st)) st = generate(&ctx, &m, tok, f, &ids, &n, &cap, n_prompt, &tok_s);
    if (!lb_failed(&st)) {
        if (f->json) print_json(tok, ids, n, n_prompt, tok_s);
        else fprintf(stderr, "generate: %zu tokens, %.1f tokens/s\n", n - n_prompt, tok_s);
    }
    free(ids);
    lb_tokenizer_free(tok);
    lb_model_free(&m);
    lb_ctx_free(&ctx);
    return st;
}

int lb_cmd_generate(int argc, char **argv)
{
    gen_flags f = {.bos = "auto", .max_tokens = 64, .temperature = 0, .top_p = 1, .seed = 0};
    const lb_flag flags[] = {
        {"model", LB_FLAG_STR, &f.model, "HF model directory"},
        {"tokenizer", LB_FLAG_STR, &f.tokenizer, "tokenizer.json or its directory (default: the model's)"},
        {"prompt", LB_FLAG_STR, &f.prompt, "text to continue"},
        {"max-tokens", LB_FLAG_INT, &f.max_tokens, "tokens to generate at most (default 64)"},
        {"temperature", LB_FLAG_FLOAT, &f.temperature, "0 = greedy (default 0)"},
        {"top-k", LB_FLAG_INT, &f.top_k, "sample from the k most likely tokens (0 = all)"},
        {"top-p", LB_FLAG_FLOAT, &f.top_p, "nucleus sampling mass (default 1)"},
        {"seed", LB_FLAG_INT, &f.seed, "random seed for sampling (default 0)"},
        {"bos", LB_FLAG_STR, &f.bos, "prepend BOS: auto|yes|no (default auto)"},
        {"device", LB_FLAG_STR, &f.device, "cpu|cuda|auto (default auto)"},
        {"threads", LB_FLAG_INT, &f.threads, "CPU threads (default: all)"},
        {"json", LB_FLAG_BOOL, &f.json, "print one JSON object instead of streaming text"},
    };
    lb_flag_store store = {0};
    const lb_cli_cmd cmd = {"generate", "Continue a prompt with the model, stopping at EOS.",
                            "lowbit generate --model DIR --prompt TEXT [flags]", flags,
                            (int)(sizeof flags / sizeof flags[0]), &store};
    bool help;
    lb_status st = lb_flags_parse(&cmd, argc, argv, &help);
    int rc = 0;
    if (help) lb_flags_help(&cmd, stdout);
    else {
        if (!lb_failed(&st)) st = check_flags(&f);
        if (!lb_failed(&st)) st = run(&f);
        if (lb_failed(&st)) rc = lb_cli_error(&st);
    }
    lb_flag_store_free(&store);
    return rc;
}
