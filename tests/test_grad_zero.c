/* test_grad_zero.c — "grads are zero" (LB_TENSOR_GRAD_ZEROS, tape.h) on the
 * CPU, the specification path: the first writer of a parameter grad after
 * lb_model_zero_grad overwrites it, the later ones accumulate, and the
 * numbers are the ones the accumulate-only backward computes, bit for bit.
 *
 * Two copies of one tiny model (same seed, same quantizers) each take a
 * warm-up backward (CPU grads are allocated by their first writer), then:
 *   - ref: every grad cleared with memset and left unmarked: each writer
 *     adds to zeros, what the backward did before the mark existed;
 *   - marked: lb_model_zero_grad (cleared and marked), then every marked
 *     grad whose first writer overwrites is filled with NaN, so a writer
 *     that read it instead would leave NaN (the tables that only
 *     lb_embedding writes keep their zeros: the scatter accumulates).
 * Both run two micro-batches (the second must accumulate onto the first);
 * every parameter and quantizer-parameter grad is compared bitwise after
 * each, and no mark may survive the first backward. Cases: fp, QAT int4:g32
 * min-max and LSQ, tied and untied heads, biases (GPT-2: LayerNorm w and b),
 * Llama and GPT-2, with ctx->recompute on and off.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "layers/model.h"
#include "train/run_quant.h"

typedef struct gz_case {
    const char *name;
    lb_arch arch;
    const char *wq;
    bool tied, bias, recompute;
} gz_case;

typedef struct side {
    lb_ctx ctx;
    lb_model m;
    lb_tensor *qp[128];
    int nq;
} side;

static bool side_init(side *S, const gz_case *k)
{
    memset(S, 0, sizeof *S);
    lb_model_config c = lb_test_tiny_config(k->arch, 2, k->tied, k->bias);
    /* the weights spread so that the int4 grid clips some (masked grads) */
    return lb_test_model_setup(&S->ctx, &S->m, &c, k->recompute, k->wq, NULL, S->qp, &S->nq);
}

/* micro_batch: forward, loss / 2, backward (grads accumulate). */
static void micro_batch(side *S, uint64_t seed)
{
    lb_ctx *ctx = &S->ctx;
    const int64_t B = 2, T = 12, V = S->m.cfg.vocab_size;
    lb_tensor *ids, *tgt;
    lb_test_tokens(ctx, B, T, V, seed * 2654435761u + 1, &ids, &tgt);
    lb_tensor *logits = lb_model_forward(ctx, &S->m, ids, NULL);   /* (B, T, V) */
    logits = lb_reshape(ctx, logits, LB_SHAPE(B * T, V));
    lb_tensor *loss = lb_cross_entropy(ctx, logits, tgt, NULL, NULL);
    lb_backward(ctx, lb_scale(ctx, loss, 0.5f));
    lb_ctx_step_end(ctx);
}

/* clear_plain: every grad (parameters, quantizer parameters) memset to 0
 * without a mark: the accumulate-only backward's starting point. */
static void clear_plain(side *S)
{
    for (int i = 0; i < S->m.n_params; i++)
        if (S->m.params[i]->grad) memset(S->m.params[i]->grad->data, 0, lb_tensor_nbytes(S->m.params[i]->grad));
    for (int i = 0; i < S->nq; i++)
        if (S->qp[i]->grad) memset(S->qp[i]->grad->data, 0, lb_tensor_nbytes(S->qp[i]->grad));
}

/* embedding_only: t is read by lb_embedding alone (an untied token table,
 * GPT-2's positions): its writer accumulates, so it keeps its zeros. */
static bool embedding_only(const lb_model *m, const lb_tensor *t)
{
    return t == m->pos_emb || (t == m->tok_emb && t != m->lm_head);
}

/* clear_marked: lb_model_zero_grad, then NaN in each marked grad whose
 * first writer overwrites; quantizer grads are cleared as the trainer
 * does (memset, no mark). Returns how many grads were poisoned. */
static int clear_marked(side *S)
{
    lb_model_zero_grad(&S->ctx, &S->m);
    int poisoned = 0;
    for (int i = 0; i < S->m.n_params; i++) {
        lb_tensor *t = S->m.params[i];
        LB_EXPECTF(t->grad && (t->grad->flags & LB_TENSOR_GRAD_ZEROS), "%s: zero_grad left no mark",
                   S->m.param_names[i]);
        if (!t->grad || embedding_only(&S->m, t)) continue;
        float *g = t->grad->data;
        for (int64_t j = 0; j < lb_tensor_numel(t->grad); j++) g[j] = NAN;
        poisoned++;
    }
    for (int i = 0; i < S->nq; i++)
        if (S->qp[i]->grad) memset(S->qp[i]->grad->data, 0, lb_tensor_nbytes(S->qp[i]->grad));
    return poisoned;
}

/* compare: every grad bitwise; returns how many differ. */
static int compare(const side *R, const side *M, const char *what, const gz_case *k)
{
    char label[160];
    snprintf(label, sizeof label, "%s, %s", k->name, what);
    return lb_test_diff_grads(&R->m, &M->m, R->qp, M->qp, R->nq < M->nq ? R->nq : M->nq, label);
}

static void check_case(const gz_case *k)
{
    side R, M;
    bool ok = side_init(&R, k) && side_init(&M, k);
    if (!ok) return;
    LB_EXPECT(R.nq == M.nq);
    micro_batch(&R, 1);   /* warm-up: the CPU grads exist from here on */
    micro_batch(&M, 1);
    clear_plain(&R);
    int poisoned = clear_marked(&M);
    micro_batch(&R, 3);
    micro_batch(&M, 3);
    int marks = 0;
    for (int i = 0; i < M.m.n_params; i++)
        marks += M.m.params[i]->grad && (M.m.params[i]->grad->flags & LB_TENSOR_GRAD_ZEROS);
    LB_EXPECTF(marks == 0, "%s: %d grads still marked zero after a backward", k->name, marks);
    int d1 = compare(&R, &M, "1 micro-batch", k);
    micro_batch(&R, 4);
    micro_batch(&M, 4);
    int d2 = compare(&R, &M, "2 micro-batches", k);
    LB_EXPECTF(d1 == 0 && d2 == 0, "%s: %d grads differ after 1 micro-batch, %d after 2", k->name, d1, d2);
    LB_EXPECTF(poisoned > 0, "%s: no grad was poisoned", k->name);
    printf("  %s: %d parameter + %d quantizer grads bitwise equal after 1 and 2 micro-batches (%d started as NaN)\n",
           k->name, R.m.n_params, R.nq, poisoned);
    lb_model_free(&R.m);
    lb_model_free(&M.m);
    lb_ctx_free(&R.ctx);
    lb_ctx_free(&M.ctx);
}

static void test_llama_fp(void)
{
    check_case(&(gz_case){"llama fp tied", LB_ARCH_LLAMA, NULL, true, false, false});
    check_case(&(gz_case){"llama fp untied, biases", LB_ARCH_LLAMA, NULL, false, true, false});
}

static void test_llama_qat(void)
{
    check_case(&(gz_case){"llama int4:g32 minmax tied", LB_ARCH_LLAMA, "int4:g32", true, false, false});
    check_case(&(gz_case){"llama int4:g32:lsq untied", LB_ARCH_LLAMA, "int4:g32:lsq", false, false, false});
}

static void test_gpt2(void)
{
    check_case(&(gz_case){"gpt2 fp tied", LB_ARCH_GPT2, NULL, true, true, false});
    check_case(&(gz_case){"gpt2 int4:g32:lsq tied", LB_ARCH_GPT2, "int4:g32:lsq", true, true, false});
}

static void test_recompute(void)
{
    check_case(&(gz_case){"llama int4:g32 minmax untied, recompute", LB_ARCH_LLAMA, "int4:g32", false, false, true});
    check_case(&(gz_case){"llama int4:g32:lsq tied, recompute", LB_ARCH_LLAMA, "int4:g32:lsq", true, false, true});
    check_case(&(gz_case){"gpt2 fp tied, recompute", LB_ARCH_GPT2, NULL, true, true, true});
}

int main(void)
{
    LB_RUN(test_llama_fp);
    LB_RUN(test_llama_qat);
    LB_RUN(test_gpt2);
    LB_RUN(test_recompute);
    return lb_test_summary();
}
