/* cmd_eval.c — `lowbit eval`: perplexity of a model on .h5, .jsonl or .txt
 * data, by the protocol of DESIGN.md §6 (see train/eval.h).
 *
 * An .h5 token file is read window by window; .jsonl/.txt documents are
 * tokenized with the model's tokenizer (no BOS, EOS after each) first.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/h5data.h"
#include "datasets/textsrc.h"
#include "train/cli/commands.h"
#include "train/cli/common.h"
#include "train/eval.h"

typedef struct eval_flags {
    const char *model, *data, *tokenizer, *device;
    int64_t ctx, max_windows, batch, threads;
    bool json;
} eval_flags;

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* ---- .h5 token source: uint32 on disk, int32 ids in memory --------------- */

static lb_status h5_read(void *self, int64_t start, int64_t n, int32_t *dst)
{
    /* uint32 and int32 have the same size: read in place, then check range */
    LB_TRY(lb_h5_tokens_read(self, start, n, (uint32_t *)dst));
    for (int64_t i = 0; i < n; i++)
        if ((uint32_t)dst[i] > INT32_MAX)
            return lb_errorf(LB_ERR_FORMAT, "token %lld is %u, too large for a token id",
                             (long long)(start + i), (uint32_t)dst[i]);
    return lb_ok();
}

/* ---- .txt / .jsonl: tokenize everything into memory ---------------------- */

static lb_status tokenize_text(const char *path, const lb_tokenizer *tok, int32_t **ids, size_t *n)
{
    int32_t eos = lb_tokenizer_eos_id(tok);
    if (eos < 0)
        return lb_errorf(LB_ERR_ARG, "%s: the tokenizer has no EOS token, which the perplexity protocol "
                         "puts after each document", path);
    lb_textsrc *src;
    LB_TRY(lb_textsrc_open(path, &src));
    size_t cap = 1 << 16;
    *n = 0;
    *ids = malloc(cap * sizeof **ids);
    lb_status st = *ids ? lb_ok() : lb_errorf(LB_ERR_OOM, "out of memory");
    while (!lb_failed(&st)) {
        lb_textdoc doc;
        bool eof;
        st = lb_textsrc_next(src, &doc, &eof);
        if (lb_failed(&st) || eof) break;
        st = lb_tokenizer_encode(tok, doc.text, doc.len, ids, n, &cap);
        free(doc.text);
        if (lb_failed(&st)) break;
        if (*n == cap) {
            int32_t *g = realloc(*ids, cap * 2 * sizeof **ids);
            if (!g) { st = lb_errorf(LB_ERR_OOM, "out of memory"); break; }
            *ids = g;
            cap *= 2;
        }
        (*ids)[(*n)++] = eos;
    }
    lb_textsrc_close(src);
    if (lb_failed(&st)) {
        free(*ids);
        *ids = NULL;
    }
    return st;
}

static void print_result(const eval_flags *f, const lb_ppl_result *r)
{
    if (!f->json) {
        printf("ppl %.4f  (nll %.6f over %lld predictions, %lld windows of %lld)  %.1f s, %.0f tokens/s\n",
               r->ppl, r->nll_sum / (double)r->n_predictions, (long long)r->n_predictions,
               (long long)r->n_windows, (long long)f->ctx, r->seconds, r->tokens_per_s);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", f->model);
    cJSON_AddStringToObject(o, "data", f->data);
    cJSON_AddNumberToObject(o, "ppl", r->ppl);
    cJSON_AddNumberToObject(o, "nll", r->nll_sum / (double)r->n_predictions);
    cJSON_AddNumberToObject(o, "nll_sum", r->nll_sum);
    cJSON_AddNumberToObject(o, "predictions", (double)r->n_predictions);
    cJSON_AddNumberToObject(o, "windows", (double)r->n_windows);
    cJSON_AddNumberToObject(o, "ctx", (double)f->ctx);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddNumberToObject(o, "tokens_per_s", r->tokens_per_s);
    char *s = cJSON_PrintUnformatted(o);
    puts(s);
    free(s);
    cJSON_Delete(o);
}

static lb_status run(const eval_flags *f, lb_ppl_result *res)
{
    if (!f->data) return lb_errorf(LB_ERR_ARG, "eval: --data is required (.h5, .jsonl or .txt)");
    bool h5 = has_suffix(f->data, ".h5") || has_suffix(f->data, ".hdf5");
    if (!h5 && !has_suffix(f->data, ".jsonl") && !has_suffix(f->data, ".txt"))
        return lb_errorf(LB_ERR_ARG, "eval: --data %s: expected a .h5, .jsonl or .txt file", f->data);

    lb_ctx ctx;
    LB_TRY(lb_cli_ctx_init(&ctx, f->device, f->threads));
    lb_model m;
    lb_tokenizer *tok = NULL;
    lb_status st = lb_cli_load_model(&ctx, f->model, f->tokenizer, &m, h5 ? NULL : &tok, f->json);
    if (lb_failed(&st)) {
        lb_ctx_free(&ctx);
        return st;
    }
    lb_ppl_opts opts = {f->ctx, f->max_windows, f->batch, !f->json && isatty(2)};
    if (h5) {
        lb_h5_tokens d;
        st = lb_h5_tokens_open(&d, f->data);
        if (!lb_failed(&st)) {
            if (d.vocab_size > m.cfg.vocab_size)
                st = lb_errorf(LB_ERR_SHAPE, "%s was tokenized with a vocabulary of %lld but the model's is %lld",
                               f->data, (long long)d.vocab_size, (long long)m.cfg.vocab_size);
            lb_token_source src = {d.n_tokens, h5_read, &d};
            if (!lb_failed(&st)) st = lb_eval_ppl(&ctx, &m, &src, &opts, res);
            lb_h5_tokens_close(&d);
        }
    } else {
        int32_t *ids = NULL;
        size_t n = 0;
        st = tokenize_text(f->data, tok, &ids, &n);
        if (!lb_failed(&st)) {
            lb_token_array arr = {ids, (int64_t)n};
            lb_token_source src = lb_token_source_array(&arr);
            st = lb_eval_ppl(&ctx, &m, &src, &opts, res);
        }
        free(ids);
    }
    if (lb_failed(&st)) st = lb_status_prefix(st, "eval %s", f->data);
    lb_tokenizer_free(tok);
    lb_model_free(&m);
    lb_ctx_free(&ctx);
    return st;
}

int lb_cmd_eval(int argc, char **argv)
{
    eval_flags f = {.ctx = 512, .batch = 1};
    const lb_flag flags[] = {
        {"model", LB_FLAG_STR, &f.model, "HF model directory"},
        {"data", LB_FLAG_STR, &f.data, "token file (.h5 from lowbit data) or text (.jsonl with \"text\", .txt)"},
        {"tokenizer", LB_FLAG_STR, &f.tokenizer, "tokenizer for text data (default: the model's)"},
        {"ctx", LB_FLAG_INT, &f.ctx, "window length in tokens (default 512)"},
        {"max-windows", LB_FLAG_INT, &f.max_windows, "score at most N windows (default: all)"},
        {"batch", LB_FLAG_INT, &f.batch, "windows per forward pass (default 1)"},
        {"device", LB_FLAG_STR, &f.device, "cpu|cuda|auto (default auto)"},
        {"threads", LB_FLAG_INT, &f.threads, "CPU threads (default: all)"},
        {"json", LB_FLAG_BOOL, &f.json, "print the result as one JSON object"},
    };
    lb_flag_store store = {0};
    const lb_cli_cmd cmd = {"eval",
                            "Perplexity over non-overlapping windows of --ctx tokens (documents without BOS, "
                            "EOS after each; each window scored on its ctx-1 predictions).",
                            "lowbit eval --model DIR --data FILE [flags]", flags,
                            (int)(sizeof flags / sizeof flags[0]), &store};
    bool help;
    lb_status st = lb_flags_parse(&cmd, argc, argv, &help);
    int rc = 0;
    lb_ppl_result res;
    if (help) lb_flags_help(&cmd, stdout);
    else if (lb_failed(&st)) rc = lb_cli_error(&st);
    else if (f.max_windows < 0) {
        st = lb_errorf(LB_ERR_ARG, "eval: --max-windows must be >= 0");
        rc = lb_cli_error(&st);
    } else {
        st = run(&f, &res);
        if (lb_failed(&st)) rc = lb_cli_error(&st);
        else print_result(&f, &res);
    }
    lb_flag_store_free(&store);
    return rc;
}
