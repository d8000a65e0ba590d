/* cmd_data.c — `lowbit data`: tokenize .txt/.jsonl files into HDF5 splits.
 *
 * Documents are read in order from each --input, tokenized in batches (in
 * parallel, OpenMP, order kept) without BOS, and appended with EOS to the
 * training split (--out) or the validation split (FILE.val.h5 beside it).
 * A document goes to validation when a hash of (seed, document index) falls
 * below --val-fraction, so the split is deterministic and needs no second
 * pass; when both splits are enabled and there are at least two documents,
 * neither split ends up empty (the last document of the full split moves).
 * Empty documents are skipped and counted. Outputs are written atomically:
 * on any failure nothing is left behind and existing files are untouched.
 *
 * Not a directory walker (inputs are files), not a deduplicator or filter.
 */
#include <cjson/cJSON.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/h5data.h"
#include "datasets/progress.h"
#include "datasets/textsrc.h"
#include "datasets/tokenizer.h"
#include "train/cli/commands.h"

#define BATCH_BYTES ((size_t)2 << 20)   /* text per parallel batch (and per progress update) */
#define BATCH_DOCS 4096

typedef struct data_opts {
    lb_strlist inputs;
    const char *tokenizer, *out;
    double val_fraction;
    int64_t seed, eos_id, threads;
    bool json;
} data_opts;

/* One split being written; the most recent document is held back so it can
 * move to the other split at the end if that one would be empty. */
typedef struct split {
    const char *path;
    lb_h5_writer w;
    bool on;
    int32_t *held;
    size_t held_n, held_cap;
    bool has_held;
    int64_t docs, tokens;   /* routed so far, held one included; tokens with EOS */
} split;

/* One document of a batch and its token ids (buffers reused across batches). */
typedef struct slot {
    lb_textdoc doc;
    const char *file;
    int32_t *ids;
    size_t n, cap;
    lb_status st;
} slot;

typedef struct data_stats {
    int64_t docs, empty, bytes;
    double seconds;
} data_stats;

static uint64_t mix64(uint64_t x)   /* splitmix64 finalizer */
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static bool goes_to_val(int64_t seed, int64_t doc_index, double fraction)
{
    if (fraction <= 0) return false;
    uint64_t h = mix64(mix64((uint64_t)seed) ^ (uint64_t)doc_index);
    return (double)(h >> 11) * 0x1p-53 < fraction;
}

static lb_status flush_held(split *s)
{
    if (!s->has_held) return lb_ok();
    s->has_held = false;
    return lb_h5_writer_add_doc(&s->w, s->held, s->held_n);
}

/* Routes a tokenized document: the split's held document is written and this
 * one is held instead (buffers are swapped, not copied). */
static lb_status route(split *s, slot *d)
{
    LB_TRY(flush_held(s));
    int32_t *ids = s->held;
    size_t cap = s->held_cap;
    s->held = d->ids;
    s->held_n = d->n;
    s->held_cap = d->cap;
    s->has_held = true;
    d->ids = ids;
    d->cap = cap;
    d->n = 0;
    s->docs++;
    s->tokens += (int64_t)s->held_n + 1;
    return lb_ok();
}

/* Moves the held document of `from` to `to` (when `to` would be empty). */
static void move_held(split *from, split *to)
{
    slot tmp = {.ids = from->held, .n = from->held_n, .cap = from->held_cap};
    from->held = NULL;
    from->held_cap = 0;
    from->has_held = false;
    from->docs--;
    from->tokens -= (int64_t)tmp.n + 1;
    to->held = tmp.ids;
    to->held_n = tmp.n;
    to->held_cap = tmp.cap;
    to->has_held = true;
    to->docs++;
    to->tokens += (int64_t)tmp.n + 1;
}

static void tokenize_batch(const lb_tokenizer *tok, slot *b, int nb, int threads)
{
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int i = 0; i < nb; i++) {
        b[i].n = 0;
        b[i].st = lb_tokenizer_encode(tok, b[i].doc.text, b[i].doc.len, &b[i].ids, &b[i].n, &b[i].cap);
    }
}

static lb_status route_batch(const data_opts *o, split *train, split *val, slot *b, int nb,
                             data_stats *stats)
{
    for (int i = 0; i < nb; i++) {
        if (lb_failed(&b[i].st)) {
            if (b[i].doc.line) return lb_status_prefix(b[i].st, "%s:%lld", b[i].file, (long long)b[i].doc.line);
            return lb_status_prefix(b[i].st, "%s", b[i].file);
        }
        bool v = val->on && goes_to_val(o->seed, stats->docs, o->val_fraction);
        LB_TRY(route(v ? val : train, &b[i]));
        stats->docs++;
    }
    return lb_ok();
}

static void free_batch_text(slot *b, int nb)
{
    for (int i = 0; i < nb; i++) {
        free(b[i].doc.text);
        b[i].doc.text = NULL;
    }
}

/* Reads, tokenizes and routes every document of one input file. */
static lb_status run_file(const data_opts *o, const char *path, const lb_tokenizer *tok, split *train,
                          split *val, slot *b, data_stats *stats, lb_progress *prog, int threads)
{
    lb_textsrc *src;
    LB_TRY(lb_textsrc_open(path, &src));
    lb_status st = lb_ok();
    int64_t bytes0 = stats->bytes;
    for (bool eof = false; !eof;) {
        int nb = 0;
        size_t batch_bytes = 0;
        while (nb < BATCH_DOCS && batch_bytes < BATCH_BYTES) {
            st = lb_textsrc_next(src, &b[nb].doc, &eof);
            if (lb_failed(&st) || eof) break;
            if (b[nb].doc.len == 0) {
                free(b[nb].doc.text);
                b[nb].doc.text = NULL;
                stats->empty++;
                continue;
            }
            b[nb].file = path;
            batch_bytes += b[nb].doc.len;
            nb++;
        }
        if (!lb_failed(&st)) {
            tokenize_batch(tok, b, nb, threads);
            st = route_batch(o, train, val, b, nb, stats);
        }
        free_batch_text(b, nb);
        if (lb_failed(&st)) break;
        stats->bytes = bytes0 + lb_textsrc_bytes(src);
        lb_progress_update(prog, stats->bytes);
    }
    lb_textsrc_close(src);
    return st;
}

static lb_status check_opts(const data_opts *o, int64_t *total_bytes)
{
    if (o->inputs.n == 0)
        return lb_errorf(LB_ERR_ARG, "data: --input is required (a .txt or .jsonl file; repeat for several)");
    if (!o->tokenizer)
        return lb_errorf(LB_ERR_ARG, "data: --tokenizer is required (a model directory or a tokenizer.json)");
    if (!o->out) return lb_errorf(LB_ERR_ARG, "data: --out is required (the training split, e.g. corpus.h5)");
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return lb_errorf(LB_ERR_ARG, "data: --val-fraction %g must be in [0, 1) (0: no validation split)",
                         o->val_fraction);
    if (o->threads < 0) return lb_errorf(LB_ERR_ARG, "data: --threads must be >= 0 (0: all cores)");
    struct stat sb;
    if (stat(o->out, &sb) == 0 && S_ISDIR(sb.st_mode))
        return lb_errorf(LB_ERR_ARG, "data: --out %s is a directory; name the file to write (e.g. %s/corpus.h5)",
                         o->out, o->out);
    *total_bytes = 0;
    for (int i = 0; i < o->inputs.n; i++) {
        int64_t size = 0;
        LB_TRY(lb_textsrc_check(o->inputs.items[i], &size));
        *total_bytes += size;
    }
    return lb_ok();
}

static lb_status eos_of(const data_opts *o, const lb_tokenizer *tok, int64_t *eos)
{
    int64_t vocab = lb_tokenizer_vocab_size(tok);
    *eos = o->eos_id >= 0 ? o->eos_id : lb_tokenizer_eos_id(tok);
    if (*eos < 0)
        return lb_errorf(LB_ERR_ARG, "data: the tokenizer %s has no EOS token; pass --eos-id N (the id that ends each document)",
                         o->tokenizer);
    if (*eos >= vocab)
        return lb_errorf(LB_ERR_ARG, "data: --eos-id %lld is outside the tokenizer's vocabulary [0, %lld)",
                         (long long)*eos, (long long)vocab);
    return lb_ok();
}

static void print_summary(const data_opts *o, const split *train, const split *val, const data_stats *s,
                          const lb_tokenizer *tok, int64_t eos, int threads)
{
    double mb = (double)s->bytes / 1e6;
    int64_t tokens = train->tokens + val->tokens;
    double tps = s->seconds > 0 ? (double)tokens / s->seconds : 0;
    double mbps = s->seconds > 0 ? mb / s->seconds : 0;
    if (!o->json) {
        printf("wrote %s: %lld documents, %lld tokens\n", train->path, (long long)train->docs,
               (long long)train->tokens);
        if (val->on)
            printf("wrote %s: %lld documents, %lld tokens\n", val->path, (long long)val->docs,
                   (long long)val->tokens);
        if (s->empty) printf("skipped %lld empty documents\n", (long long)s->empty);
        printf("read %d file%s, %.2f MB in %.2f s: %.0f tokens/s, %.2f MB/s (%d threads)\n", o->inputs.n,
               o->inputs.n == 1 ? "" : "s", mb, s->seconds, tps, mbps, threads);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *tj = cJSON_AddObjectToObject(j, "train");
    cJSON_AddStringToObject(tj, "path", train->path);
    cJSON_AddNumberToObject(tj, "documents", (double)train->docs);
    cJSON_AddNumberToObject(tj, "tokens", (double)train->tokens);
    if (val->on) {
        cJSON *vj = cJSON_AddObjectToObject(j, "val");
        cJSON_AddStringToObject(vj, "path", val->path);
        cJSON_AddNumberToObject(vj, "documents", (double)val->docs);
        cJSON_AddNumberToObject(vj, "tokens", (double)val->tokens);
    } else {
        cJSON_AddNullToObject(j, "val");
    }
    cJSON_AddNumberToObject(j, "documents", (double)s->docs);
    cJSON_AddNumberToObject(j, "tokens", (double)tokens);
    cJSON_AddNumberToObject(j, "skipped_empty", (double)s->empty);
    cJSON_AddNumberToObject(j, "bytes_read", (double)s->bytes);
    cJSON_AddNumberToObject(j, "mb_read", mb);
    cJSON_AddNumberToObject(j, "seconds", s->seconds);
    cJSON_AddNumberToObject(j, "tokens_per_s", tps);
    cJSON_AddNumberToObject(j, "mb_per_s", mbps);
    cJSON_AddNumberToObject(j, "threads", threads);
    cJSON_AddNumberToObject(j, "vocab_size", (double)lb_tokenizer_vocab_size(tok));
    cJSON_AddNumberToObject(j, "eos_id", (double)eos);
    cJSON_AddStringToObject(j, "tokenizer_sha256", lb_tokenizer_sha256(tok));
    char *text = cJSON_PrintUnformatted(j);
    if (text) printf("%s\n", text);
    free(text);
    cJSON_Delete(j);
}

/* At the end: keep both splits non-empty when possible, then write the held
 * documents and commit. */
static lb_status finish(split *train, split *val, const data_stats *stats)
{
    if (stats->docs == 0)
        return lb_errorf(LB_ERR_ARG, "data: the inputs hold no (non-empty) documents; nothing to write");
    if (val->on && stats->docs >= 2) {
        if (val->docs == 0) move_held(train, val);
        else if (train->docs == 0) move_held(val, train);
    }
    if (val->on && val->docs == 0)
        fprintf(stderr, "lowbit: note: the validation split %s is empty (the inputs hold one document)\n",
                val->path);
    LB_TRY(flush_held(train));
    if (val->on) LB_TRY(flush_held(val));
    /* everything that can fail for lack of space happens before any rename */
    LB_TRY(lb_h5_writer_finish(&train->w));
    if (val->on) LB_TRY(lb_h5_writer_finish(&val->w));
    if (val->on) LB_TRY(lb_h5_writer_commit(&val->w));
    return lb_h5_writer_commit(&train->w);
}

static lb_status run(const data_opts *o, split *train, split *val, data_stats *stats, int64_t total_bytes)
{
    lb_tokenizer *tok = NULL;
    slot *batch = NULL;
    lb_status st = lb_tokenizer_load(o->tokenizer, &tok);
    if (lb_failed(&st)) return st;
    int64_t eos;
    st = eos_of(o, tok, &eos);
    if (lb_failed(&st)) goto out_tok;
    int threads = o->threads > 0 ? (int)o->threads : omp_get_max_threads();
    const char *sha = lb_tokenizer_sha256(tok);
    int64_t vocab = lb_tokenizer_vocab_size(tok);
    st = lb_h5_writer_open(&train->w, train->path, vocab, eos, sha, o->inputs.items, o->inputs.n);
    if (lb_failed(&st)) goto out_tok;
    train->on = true;
    if (val->on) {
        st = lb_h5_writer_open(&val->w, val->path, vocab, eos, sha, o->inputs.items, o->inputs.n);
        if (lb_failed(&st)) {
            val->on = false;
            goto out_writers;
        }
    }
    batch = calloc(BATCH_DOCS, sizeof *batch);
    if (!batch) {
        st = lb_errorf(LB_ERR_OOM, "data: out of memory");
        goto out_writers;
    }
    lb_progress prog;
    lb_progress_init(&prog, "data", total_bytes, "B");
    double t0 = lb_progress_now();
    for (int i = 0; i < o->inputs.n && !lb_failed(&st); i++)
        st = run_file(o, o->inputs.items[i], tok, train, val, batch, stats, &prog, threads);
    if (!lb_failed(&st)) st = finish(train, val, stats);
    stats->seconds = lb_progress_now() - t0;
    lb_progress_finish(&prog);
    if (!lb_failed(&st)) print_summary(o, train, val, stats, tok, eos, threads);
out_writers:
    lb_h5_writer_abort(&val->w);   /* no-ops after a commit */
    lb_h5_writer_abort(&train->w);
    for (int i = 0; batch && i < BATCH_DOCS; i++) free(batch[i].ids);
    free(batch);
out_tok:
    lb_tokenizer_free(tok);
    return st;
}

int lb_cmd_data(int argc, char **argv)
{
    data_opts o = {.val_fraction = 0.01, .seed = 0, .eos_id = -1, .threads = 0};
    const lb_flag flags[] = {
        {"input", LB_FLAG_LIST, &o.inputs, "a .txt (one document) or .jsonl ({\"text\": ...} per line) file; repeat for several (files, not directories)"},
        {"tokenizer", LB_FLAG_STR, &o.tokenizer, "a model directory holding tokenizer.json, or the tokenizer.json itself"},
        {"out", LB_FLAG_STR, &o.out, "the training split FILE.h5; the validation split goes to FILE.val.h5"},
        {"val-fraction", LB_FLAG_FLOAT, &o.val_fraction, "fraction of documents for validation (default 0.01; 0: no validation file)"},
        {"seed", LB_FLAG_INT, &o.seed, "seed of the train/validation assignment (default 0)"},
        {"eos-id", LB_FLAG_INT, &o.eos_id, "token id that ends each document (default: the tokenizer's EOS)"},
        {"threads", LB_FLAG_INT, &o.threads, "tokenizer threads (default 0: all cores)"},
        {"json", LB_FLAG_BOOL, &o.json, "print the result as one JSON object on stdout"},
    };
    lb_flag_store store = {0};
    lb_cli_cmd cmd = {
        .name = "data",
        .summary = "Tokenize .txt/.jsonl files (documents without BOS, each followed by EOS) into HDF5 "
                   "token files: a training split and a validation split beside it.",
        .usage = "lowbit data --input FILE [--input FILE ...] --tokenizer DIR|tokenizer.json --out FILE.h5 "
                 "[--val-fraction 0.01] [--seed N] [--json]",
        .flags = flags,
        .n_flags = (int)(sizeof flags / sizeof flags[0]),
        .store = &store,
    };
    bool help = false;
    int rc = 0;
    lb_status st = lb_flags_parse(&cmd, argc, argv, &help);
    if (!lb_failed(&st) && help) {
        lb_flags_help(&cmd, stdout);
        goto out;
    }
    int64_t total_bytes = 0;
    if (!lb_failed(&st)) st = check_opts(&o, &total_bytes);
    if (lb_failed(&st)) {
        rc = lb_cli_error(&st);
        goto out;
    }
    split train = {.path = o.out}, val = {.on = o.val_fraction > 0};
    char *val_path = lb_h5_val_path(o.out);
    val.path = val_path;
    struct stat sb;
    if (!val.on && stat(val_path, &sb) == 0)
        fprintf(stderr, "lowbit: note: %s exists and was left as is; it is not from this run\n", val_path);
    data_stats stats = {0};
    st = run(&o, &train, &val, &stats, total_bytes);
    if (lb_failed(&st)) rc = lb_cli_error(&st);
    free(train.held);
    free(val.held);
    free(val_path);
out:
    lb_flag_store_free(&store);
    return rc;
}
