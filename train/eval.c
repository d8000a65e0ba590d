/* eval.c — windowed perplexity (DESIGN.md §6) over a token source. */
#include "train/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static lb_status array_read(void *self, int64_t start, int64_t n, int32_t *dst)
{
    const lb_token_array *a = self;
    if (start < 0 || start + n > a->n)
        return lb_errorf(LB_ERR_ARG, "token range [%lld, %lld) outside the %lld tokens",
                         (long long)start, (long long)(start + n), (long long)a->n);
    for (int64_t i = 0; i < n; i++) dst[i] = a->ids[start + i];
    return lb_ok();
}

lb_token_source lb_token_source_array(lb_token_array *arr)
{
    lb_token_source s = {arr->n, array_read, arr};
    return s;
}

static lb_status check_opts(const lb_model *m, const lb_token_source *src, const lb_ppl_opts *o)
{
    if (o->ctx_len < 2)
        return lb_errorf(LB_ERR_ARG, "--ctx must be at least 2, got %lld", (long long)o->ctx_len);
    if (o->batch < 1)
        return lb_errorf(LB_ERR_ARG, "--batch must be at least 1, got %lld", (long long)o->batch);
    if (m->cfg.arch == LB_ARCH_GPT2 && o->ctx_len > m->cfg.max_pos)
        return lb_errorf(LB_ERR_ARG, "--ctx %lld exceeds the model's %lld learned positions",
                         (long long)o->ctx_len, (long long)m->cfg.max_pos);
    if (src->n_tokens < o->ctx_len)
        return lb_errorf(LB_ERR_ARG, "the data holds %lld tokens, fewer than one window of --ctx %lld",
                         (long long)src->n_tokens, (long long)o->ctx_len);
    return lb_ok();
}

/* Scores windows [w0, w0 + nb) at once: ids (nb, T). Adds to *nll. */
static lb_status score_batch(lb_ctx *ctx, const lb_model *m, const lb_token_source *src,
                             int64_t w0, int64_t nb, int64_t T, double *nll)
{
    const int64_t V = m->cfg.vocab_size, C = m->cfg.hidden_size;
    lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(nb, T));  // (nb, T)
    int32_t *id = ids->data;
    LB_TRY(src->read(src->self, w0 * T, nb * T, id));
    for (int64_t i = 0; i < nb * T; i++) {
        if (id[i] < 0 || id[i] >= V)
            return lb_errorf(LB_ERR_ARG, "token %lld of the data has id %d, outside the model's vocabulary of %lld",
                             (long long)(w0 * T + i), id[i], (long long)V);
    }
    lb_tensor *targets = lb_tensor_new(ctx, LB_I32, LB_SHAPE(nb * T));  // (nb·T)
    int32_t *tg = targets->data;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t t = 0; t < T; t++) tg[b * T + t] = t + 1 < T ? id[b * T + t + 1] : -1;

    lb_tensor *h = lb_model_hidden(ctx, m, ids, NULL);              // (nb, T, C)
    h = lb_reshape(ctx, h, LB_SHAPE(nb * T, C));                    // (nb·T, C)
    /* the head in row chunks of at most ~16M logits (a packed head is decoded once) */
    lb_tensor *head = lb_model_head_weight(ctx, m);                // (V, C)
    int64_t rows = (16 << 20) / V;
    if (rows < 1) rows = 1;
    for (int64_t r = 0; r < nb * T; r += rows) {
        int64_t n = nb * T - r < rows ? nb * T - r : rows;
        lb_tensor *hc = n == nb * T ? h : lb_slice(ctx, h, 0, r, n);          // (n, C)
        lb_tensor *logits = lb_linear(ctx, hc, head, NULL);                    // (n, V)
        lb_tensor *tc = lb_tensor_new(ctx, LB_I32, LB_SHAPE(n));                 // (n)
        memcpy(tc->data, tg + r, (size_t)n * sizeof *tg);
        if (logits->device != LB_CPU) tc = lb_tensor_to(ctx, tc, logits->device, LB_I32);
        double sum = 0;
        int64_t cnt = 0;
        lb_cross_entropy(ctx, logits, tc, &sum, &cnt);
        *nll += sum;
    }
    return lb_ok();
}

lb_status lb_eval_ppl(lb_ctx *ctx, const lb_model *m, const lb_token_source *src,
                      const lb_ppl_opts *opts, lb_ppl_result *out)
{
    LB_TRY(check_opts(m, src, opts));
    const int64_t T = opts->ctx_len;
    int64_t n_windows = src->n_tokens / T;
    if (opts->max_windows > 0 && opts->max_windows < n_windows) n_windows = opts->max_windows;

    bool prev = lb_ctx_set_grad(ctx, false);
    double t0 = now_s(), nll = 0;
    lb_status st = lb_ok();
    for (int64_t w = 0; w < n_windows; w += opts->batch) {
        int64_t nb = n_windows - w < opts->batch ? n_windows - w : opts->batch;
        st = score_batch(ctx, m, src, w, nb, T, &nll);
        lb_ctx_step_end(ctx);
        if (lb_failed(&st)) break;
        if (opts->progress) {
            double el = now_s() - t0;
            fprintf(stderr, "\reval: window %lld/%lld  ppl %.4f  %.0f tok/s", (long long)(w + nb),
                    (long long)n_windows, exp(nll / (double)((w + nb) * (T - 1))),
                    (double)((w + nb) * T) / (el > 0 ? el : 1e-9));
        }
    }
    if (opts->progress) fputc('\n', stderr);
    lb_ctx_set_grad(ctx, prev);
    if (lb_failed(&st)) return st;

    out->nll_sum = nll;
    out->n_windows = n_windows;
    out->n_predictions = n_windows * (T - 1);
    out->ppl = exp(nll / (double)out->n_predictions);
    out->seconds = now_s() - t0;
    out->tokens_per_s = (double)(n_windows * T) / (out->seconds > 0 ? out->seconds : 1e-9);
    return lb_ok();
}
