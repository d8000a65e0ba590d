/* test_model_parity.c — lowbit's fp32 CPU logits against transformers'.
 *
 *   test_model_parity [CASE_DIR ...]
 *
 * Each case directory is an HF model plus expected.safetensors / expected.json
 * written by scripts/parity/make_models.py. Without arguments the recorded
 * cases under data/models/ are checked (run from tests/). Per case:
 *
 *   1. logits of every recorded input (several shapes, B = 2) within 1e-4 of
 *      transformers, relative to max |logit|;
 *   2. the KV cache: a full forward equals token-by-token decoding (and a
 *      prefill chunk followed by single tokens) within 1e-5 relative;
 *   3. greedy decoding with the cache reproduces transformers'
 *      generate(do_sample=False) tokens.
 *
 * Tolerances: the reference is fp32 too, so the two differ only by summation
 * order in reductions of at most a few hundred terms; that is ~1e-6 relative
 * per op, and 1e-4 leaves room for a few layers of growth while any real
 * mistake (a wrong rope pair, a missing bias, a wrong scale) is O(1e-1).
 * Cached and uncached decoding in lowbit run the same kernels on the same
 * numbers except for how many keys a query sees, hence the tighter 1e-5.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "layers/fileio.h"
#include "layers/json_util.h"
#include "layers/model.h"
#include "layers/safetensors.h"

#define PARITY_TOL 1e-4 /* vs transformers, see above */
#define KV_TOL 1e-5     /* cached vs uncached lowbit */

static const char *g_case;   /* the case directory the running test checks */
static double g_worst;       /* worst logits rel diff over the run */

static double max_rel(const float *a, const float *b, int64_t n)
{
    double d = 0, ref = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (isnan(e)) return INFINITY;
        if (e > d) d = e;
        if (fabs((double)b[i]) > ref) ref = fabs((double)b[i]);
    }
    return d / ref;
}

/* ids_tensor: a step tensor (B, T) i32 holding ids. */
static lb_tensor *ids_tensor(lb_ctx *ctx, const int32_t *ids, int64_t B, int64_t T)
{
    lb_tensor *t = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B, T));
    memcpy(t->data, ids, (size_t)(B * T) * sizeof(int32_t));
    return t;
}

static void check_logits(lb_ctx *ctx, const lb_model *m, const lb_st_file *ex)
{
    for (int i = 0;; i++) {
        char in_name[32], out_name[32];
        snprintf(in_name, sizeof in_name, "input_ids.%d", i);
        snprintf(out_name, sizeof out_name, "logits.%d", i);
        const lb_st_tensor *ti = lb_st_find(ex, in_name), *tl = lb_st_find(ex, out_name);
        if (!ti) {
            LB_EXPECTF(i > 0, "%s: expected.safetensors has no input_ids.0", g_case);
            return;
        }
        LB_EXPECTF(tl && ti->ndim == 2 && tl->ndim == 3 && !strcmp(ti->dtype_str, "I32"),
                   "%s: bad expected tensors for input %d", g_case, i);
        if (!tl) return;
        int64_t B = ti->shape[0], T = ti->shape[1], V = tl->shape[2];
        float *want = malloc((size_t)(B * T * V) * sizeof *want);
        lb_status st = lb_st_read_f32(tl, want);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);

        lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B, T));
        memcpy(ids->data, ti->data, (size_t)(B * T) * sizeof(int32_t)); /* safetensors data may be unaligned */
        lb_tensor *logits = lb_model_forward(ctx, m, ids, NULL); /* (B, T, V) */
        LB_EXPECTF(logits->shape[0] == B && logits->shape[1] == T && logits->shape[2] == V,
                   "%s: logits shape", g_case);
        double rel = max_rel(lb_tensor_f32(logits), want, B * T * V);
        if (rel > g_worst) g_worst = rel;
        printf("  %s: input %d (B=%lld, T=%lld): max rel diff %.3g\n", g_case, i, (long long)B, (long long)T, rel);
        LB_EXPECTF(rel <= PARITY_TOL, "%s: input %d: logits differ from transformers by %.3g (> %g)", g_case, i,
                   rel, PARITY_TOL);
        free(want);
        lb_ctx_step_end(ctx);
    }
}

/* check_kv: decoding with the cache equals the full forward, for the first
 * sequence of input_ids.<last> (the longest). */
static void check_kv(lb_ctx *ctx, const lb_model *m, const lb_st_file *ex)
{
    const lb_st_tensor *ti = NULL;
    for (int i = 0;; i++) {
        char name[32];
        snprintf(name, sizeof name, "input_ids.%d", i);
        const lb_st_tensor *t = lb_st_find(ex, name);
        if (!t) break;
        if (!ti || t->shape[1] > ti->shape[1]) ti = t;
    }
    if (!ti) return;
    int64_t T = ti->shape[1], V = m->cfg.vocab_size;
    int32_t *ids = malloc((size_t)T * sizeof *ids);
    memcpy(ids, ti->data, (size_t)T * sizeof *ids);
    float *full = malloc((size_t)(T * V) * sizeof *full);
    memcpy(full, lb_tensor_f32(lb_model_forward(ctx, m, ids_tensor(ctx, ids, 1, T), NULL)),
           (size_t)(T * V) * sizeof *full);
    lb_ctx_step_end(ctx);

    for (int prefill = 1; prefill <= 3; prefill += 2) { /* 1: token by token; 3: a chunk of 3 first */
        lb_kv_cache kv;
        lb_status st = lb_kv_cache_init(&kv, m, T);
        LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
        double worst = 0;
        for (int64_t t = 0; t < T;) {
            int64_t n = t == 0 ? prefill : 1;
            lb_tensor *lg = lb_model_forward(ctx, m, ids_tensor(ctx, ids + t, 1, n), &kv); /* (1, n, V) */
            double rel = max_rel(lb_tensor_f32(lg), full + t * V, n * V);
            if (rel > worst) worst = rel;
            lb_ctx_step_end(ctx);
            t += n;
        }
        LB_EXPECTF(kv.len == T, "%s: cache length %lld after %lld tokens", g_case, (long long)kv.len,
                   (long long)T);
        printf("  %s: KV cache (prefill %d, T=%lld): max rel diff %.3g\n", g_case, prefill, (long long)T, worst);
        LB_EXPECTF(worst <= KV_TOL, "%s: cached decoding differs from the full forward by %.3g", g_case, worst);
        lb_kv_cache_free(&kv);
    }
    free(ids);
    free(full);
}

static int64_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* check_generate: greedy continuation with the cache vs transformers'. */
static void check_generate(lb_ctx *ctx, const lb_model *m, const char *dir)
{
    char *path = lb_path_join(dir, "expected.json");
    cJSON *root = NULL;
    lb_status st = lb_json_load(path, &root);
    free(path);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    const cJSON *gen = cJSON_GetObjectItem(root, "generate");
    const cJSON *prompt = cJSON_GetObjectItem(gen, "prompt"), *tokens = cJSON_GetObjectItem(gen, "tokens");
    if (!cJSON_IsArray(prompt) || !cJSON_IsArray(tokens)) {
        cJSON_Delete(root);
        return;
    }
    int np = cJSON_GetArraySize(prompt), nt = cJSON_GetArraySize(tokens);
    int32_t *seq = malloc((size_t)(np + nt) * sizeof *seq);
    for (int i = 0; i < np; i++) seq[i] = (int32_t)cJSON_GetArrayItem(prompt, i)->valuedouble;

    lb_kv_cache kv;
    st = lb_kv_cache_init(&kv, m, np + nt);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    int64_t V = m->cfg.vocab_size;
    lb_tensor *lg = lb_model_forward(ctx, m, ids_tensor(ctx, seq, 1, np), &kv); /* (1, np, V) */
    int mismatch = -1;
    for (int i = 0; i < nt; i++) {
        int32_t next = (int32_t)argmax(lb_tensor_f32(lg) + (lg->shape[1] - 1) * V, V);
        lb_ctx_step_end(ctx);
        int32_t want = (int32_t)cJSON_GetArrayItem(tokens, i)->valuedouble;
        if (next != want && mismatch < 0) mismatch = i;
        seq[np + i] = next;
        if (i + 1 < nt) lg = lb_model_forward(ctx, m, ids_tensor(ctx, &seq[np + i], 1, 1), &kv);
    }
    lb_ctx_step_end(ctx);
    LB_EXPECTF(mismatch < 0, "%s: greedy token %d differs from transformers' generate", g_case, mismatch);
    printf("  %s: greedy generation of %d tokens %s\n", g_case, nt, mismatch < 0 ? "matches" : "DIFFERS");
    lb_kv_cache_free(&kv);
    free(seq);
    cJSON_Delete(root);
}

static void run_case(void)
{
    lb_model m;
    lb_status st = lb_model_load(&m, g_case);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return;
    lb_st_file ex;
    char *path = lb_path_join(g_case, "expected.safetensors");
    st = lb_st_open(&ex, path);
    free(path);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (!lb_failed(&st)) {
        lb_ctx ctx;
        st = lb_ctx_init(&ctx, LB_CPU);
        LB_EXPECT(!lb_failed(&st));
        lb_ctx_set_grad(&ctx, false);
        check_logits(&ctx, &m, &ex);
        check_kv(&ctx, &m, &ex);
        check_generate(&ctx, &m, g_case);
        lb_ctx_free(&ctx);
        lb_st_close(&ex);
    }
    lb_model_free(&m);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    char *dirs[256];
    int n = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && n < 256; i++) dirs[n++] = strdup(argv[i]);
    } else {
        DIR *d = opendir("data/models");
        if (!d) {
            fprintf(stderr, "test_model_parity: no data/models here (run from tests/)\n");
            return 1;
        }
        for (struct dirent *e; (e = readdir(d)) && n < 256;) {
            if (e->d_name[0] == '.') continue;
            dirs[n++] = lb_path_join("data/models", e->d_name);
        }
        closedir(d);
        qsort(dirs, (size_t)n, sizeof *dirs, cmp_str);
    }
    for (int i = 0; i < n; i++) {
        g_case = dirs[i];
        lb_test_run(dirs[i], run_case);
    }
    printf("worst logits rel diff vs transformers: %.3g (tolerance %g)\n", g_worst, PARITY_TOL);
    for (int i = 0; i < n; i++) free(dirs[i]);
    return lb_test_summary();
}
