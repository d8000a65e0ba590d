/* eval.h — perplexity by the protocol of DESIGN.md §6.
 *
 * The token stream (documents without BOS, each followed by EOS, all
 * concatenated) is cut into non-overlapping windows of ctx tokens: window w
 * covers tokens [w·ctx, (w+1)·ctx) and is scored on its ctx−1 next-token
 * predictions; ppl = exp(total NLL / total predictions). A trailing partial
 * window is not scored. The lm head is applied in row chunks so the full
 * (ctx × vocab) logits never exist at once for large vocabularies.
 *
 * This file does not read files: callers hand it a token source.
 */
#ifndef LB_EVAL_H
#define LB_EVAL_H

#include <stdint.h>

#include "autograd/ctx.h"
#include "layers/model.h"

/* A source of tokens: read n tokens starting at `start` into dst. */
typedef struct lb_token_source {
    int64_t n_tokens;
    lb_status (*read)(void *self, int64_t start, int64_t n, int32_t *dst);
    void *self;
} lb_token_source;

typedef struct lb_ppl_opts {
    int64_t ctx_len;         /* window length in tokens (>= 2) */
    int64_t max_windows;     /* 0 = all full windows */
    int64_t batch;           /* windows per forward (>= 1) */
    int progress;            /* 1: report progress on stderr */
} lb_ppl_opts;

typedef struct lb_ppl_result {
    double nll_sum;          /* total NLL, nats */
    int64_t n_predictions;   /* windows · (ctx − 1) */
    int64_t n_windows;
    double ppl;
    double seconds;
    double tokens_per_s;     /* tokens of the scored windows per second */
} lb_ppl_result;

/* lb_eval_ppl: scores the windows of `src` with model `m` (grad off during
 * the call). Errors: fewer than ctx tokens, ctx longer than the model's
 * maximum positions (GPT-2), token ids out of the model's vocabulary (naming
 * the first bad position and id). */
lb_status lb_eval_ppl(lb_ctx *ctx, const lb_model *m, const lb_token_source *src,
                      const lb_ppl_opts *opts, lb_ppl_result *out);

/* lb_token_source_array: a source over an in-memory array (borrowed). */
typedef struct lb_token_array {
    const int32_t *ids;
    int64_t n;
} lb_token_array;
lb_token_source lb_token_source_array(lb_token_array *arr);

#endif
