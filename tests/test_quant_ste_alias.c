/* test_quant_ste_alias.c — the in-place fake-quant backward on the CPU (the
 * specification path; autograd/ops_quant.c, lb_grad_dst_alias in tape.h):
 * when a non-learned weight fake-quant is directly followed by the linear
 * that reads w^ and w's grad is marked zero, the linear writes dW^ straight
 * into w's master grad and the fake-quant backward applies the saved clip
 * mask there. The grads must be the bits of the path without the alias.
 *
 * Op level, per spec: y = x @ w^T, the same random dy on two runs:
 *   - ref: w's grad memset to 0 and unmarked: the linear writes a grad of
 *     w^ of its own and the fake-quant backward adds the masked dW^ into
 *     the zeros (the path before the alias existed);
 *   - alias: w's grad filled with NaN and marked zero (what zero_grad's
 *     mark promises a writer: it may hold anything): the alias must be
 *     taken (non-learned specs; never for lsq, whose scale grad needs dW^),
 *     and no NaN may survive.
 * Both then run a second micro-batch (no mark: accumulates; no alias);
 * w's grad (and lsq's scale grad) is compared bitwise after each. Cases:
 * int4 min-max sym / asym with groups, per channel mse, per tensor, q4_0,
 * nf4, lsq, and int4:g32:asym on a weight built to clip (each group holds
 * -1 and +1: s = 2/15 rounds down in fp16, so +1's code is round(7.502) +
 * 8 = 16 > 15): its mask must have bits set, exactly those elements get
 * +0, and the others dW^. Two reads of one weight: fq, linear, fq, linear
 * (only the second fake-quant is aliased: the first accumulates after it)
 * and fq, fq, linear, linear (neither is adjacent: no alias).
 *
 * Model level: a tiny Llama with int4:g32:asym / q4_0 / nf4 / lsq on every
 * block linear, the embedding and the tied head quantized (one table read
 * by two fake-quants), recompute on and off: lb_model_zero_grad (NaN in
 * every marked grad a writer overwrites) against memset-cleared grads, two
 * micro-batches, every parameter and quantizer grad bitwise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/ops_quant.h"
#include "autograd/tape.h"
#include "harness.h"
#include "kernels/cuda/kernels.h"
#include "layers/model.h"
#include "quant/fakequant.h"
#include "train/run_quant.h"

enum { ROWS = 48, COLS = 128, MROWS = 6 };

typedef enum { READ_ONCE = 0, READ_TWICE, READ_TWICE_APART } reads;

typedef struct op_case {
    const char *spec;
    bool clip;        /* the weight built to clip; the mask must have bits */
    reads how;
} op_case;

typedef struct op_side {
    lb_ctx ctx;
    lb_tensor *w;     /* (ROWS, COLS) parameter */
    lb_quantizer q;
} op_side;

static void fill_weight(float *w, bool clip)
{
    lb_test_rand(w, ROWS * COLS, 11, -0.9f, 0.9f);
    if (!clip) return;
    for (int64_t i = 0; i < ROWS * COLS; i += 32) {   /* every group of 32: -1 and +1 */
        w[i] = -1.0f;
        w[i + 1 + (i / 32) % 31] = 1.0f;
    }
}

static bool op_side_init(op_side *S, const op_case *k)
{
    memset(S, 0, sizeof *S);
    lb_status st = lb_ctx_init(&S->ctx, LB_CPU);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    S->w = lb_tensor_alloc(LB_F32, LB_SHAPE(ROWS, COLS));
    S->w->requires_grad = true;
    S->w->name = "layer.weight";
    fill_weight(S->w->data, k->clip);
    lb_qspec sp;
    if (!lb_failed(&st)) st = lb_qspec_parse(k->spec, LB_QROLE_WEIGHT, &sp);
    if (!lb_failed(&st)) st = lb_quantizer_init(&S->q, &sp, S->w, "layer.weight");
    LB_EXPECTF(!lb_failed(&st), "%s: %s", k->spec, st.msg);
    if (lb_failed(&st)) return false;
    lb_grad_of(&S->ctx, S->w);   /* the parameter grad exists, as after a first step */
    if (lb_qspec_learned(&S->q.spec)) lb_grad_of(&S->ctx, S->q.scales);
    return true;
}

/* op_pass: one micro-batch; returns how many fake-quant nodes were aliased
 * and copies the first aliased node's mask (or the last node's) to mask. */
static int op_pass(op_side *S, const op_case *k, uint64_t seed, uint32_t *mask, bool *has_mask)
{
    lb_ctx *ctx = &S->ctx;
    lb_tensor *x1 = lb_tensor_new(ctx, LB_F32, LB_SHAPE(MROWS, COLS));   /* (M, K) */
    lb_tensor *x2 = lb_tensor_new(ctx, LB_F32, LB_SHAPE(MROWS, COLS));
    lb_test_rand(x1->data, MROWS * COLS, seed, -1.0f, 1.0f);
    lb_test_rand(x2->data, MROWS * COLS, seed + 1, -1.0f, 1.0f);
    lb_tensor *f1 = lb_fake_quant_weight(ctx, S->w, &S->q), *f2 = NULL, *y1, *y2 = NULL;
    if (k->how == READ_TWICE_APART) f2 = lb_fake_quant_weight(ctx, S->w, &S->q);
    y1 = lb_linear(ctx, x1, f1, NULL);   /* (M, ROWS) */
    if (k->how == READ_TWICE) f2 = lb_fake_quant_weight(ctx, S->w, &S->q);
    if (f2) y2 = lb_linear(ctx, x2, f2, NULL);
    lb_tensor *ys[2] = {y1, y2};
    for (int i = 0; i < 2 && ys[i]; i++)
        lb_test_rand(lb_grad_of(ctx, ys[i])->data, MROWS * ROWS, seed + 2 + (uint64_t)i, -1.0f, 1.0f);
    lb_tensor *fs[2] = {f1, f2};
    const lb_node *nodes[2] = {f1->node, f2 ? f2->node : NULL};
    const uint32_t *m = lb_fake_quant_weight_clip_mask(f2 ? f2 : f1);
    *has_mask = m != NULL;
    if (m) memcpy(mask, m, (size_t)lb_clip_mask_words(ROWS * COLS) * sizeof *mask);
    lb_tape_backward(ctx, ctx->tape, NULL);
    int aliased = 0;
    for (int i = 0; i < 2 && fs[i]; i++) aliased += nodes[i]->grad_aliased;
    lb_ctx_step_end(ctx);
    return aliased;
}

static bool same_bits(const lb_tensor *a, const lb_tensor *b)
{
    return !memcmp(a->grad->data, b->grad->data, lb_tensor_nbytes(a->grad));
}

static void check_op(const op_case *k)
{
    op_side R, A;
    if (!op_side_init(&R, k) || !op_side_init(&A, k)) return;
    bool learned = lb_qspec_learned(&A.q.spec);
    int64_t n = ROWS * COLS, words = lb_clip_mask_words(n);
    uint32_t *mr = calloc((size_t)words, 4), *ma = calloc((size_t)words, 4);
    bool hr, ha;
    const char *how = k->how == READ_ONCE ? "once" : k->how == READ_TWICE ? "twice" : "twice apart";
    memset(R.w->grad->data, 0, lb_tensor_nbytes(R.w->grad));
    float *ga = A.w->grad->data;
    for (int64_t i = 0; i < n; i++) ga[i] = NAN;
    lb_grad_mark_zero(A.w);
    if (learned) {
        memset(R.q.scales->grad->data, 0, lb_tensor_nbytes(R.q.scales->grad));
        memset(A.q.scales->grad->data, 0, lb_tensor_nbytes(A.q.scales->grad));
    }
    int ar = op_pass(&R, k, 5, mr, &hr), aa = op_pass(&A, k, 5, ma, &ha);
    int want = learned || k->how == READ_TWICE_APART ? 0 : 1;
    LB_EXPECTF(ar == 0, "%s (%s): the unmarked run took %d aliases", k->spec, how, ar);
    LB_EXPECTF(aa == want, "%s (%s): %d fake-quants aliased, expected %d", k->spec, how, aa, want);
    LB_EXPECTF(!(A.w->grad->flags & LB_TENSOR_GRAD_ZEROS), "%s (%s): mark survived", k->spec, how);
    LB_EXPECTF(same_bits(R.w, A.w), "%s (%s): dW differs from the path without the alias (1 micro-batch)",
               k->spec, how);
    if (learned) LB_EXPECTF(same_bits(R.q.scales, A.q.scales), "%s: d scale differs", k->spec);
    bool int_grid = A.q.spec.format == LB_QF_INT && !learned;
    LB_EXPECTF(ha == int_grid && hr == int_grid, "%s: a clip mask %s", k->spec,
               int_grid ? "is missing" : "where nothing clips");
    if (ha && hr) LB_EXPECTF(!memcmp(mr, ma, (size_t)words * 4), "%s: the two runs' masks differ", k->spec);
    if (k->clip) {
        int64_t set = 0, bad = 0;
        const float *g = A.w->grad->data;
        for (int64_t i = 0; i < n; i++) {
            bool b = (ma[i >> 5] >> (i & 31)) & 1u;
            set += b;
            if (b && (g[i] != 0.0f || signbit(g[i]))) bad++;
        }
        LB_EXPECTF(set > 0, "%s: the weight built to clip has no clip bit", k->spec);
        LB_EXPECTF(bad == 0, "%s: %lld clipped elements have a grad other than +0", k->spec, (long long)bad);
    }
    /* second micro-batch: no mark, both accumulate */
    int br = op_pass(&R, k, 9, mr, &hr), ba = op_pass(&A, k, 9, ma, &ha);
    LB_EXPECTF(br == 0 && ba == 0, "%s (%s): aliased without a mark (%d, %d)", k->spec, how, br, ba);
    LB_EXPECTF(same_bits(R.w, A.w), "%s (%s): dW differs after 2 micro-batches", k->spec, how);
    if (learned) LB_EXPECTF(same_bits(R.q.scales, A.q.scales), "%s: d scale differs (2)", k->spec);
    free(mr);
    free(ma);
    op_side *both[2] = {&R, &A};
    for (int i = 0; i < 2; i++) {
        lb_quantizer_free(&both[i]->q);
        lb_tensor_free(both[i]->w);
        lb_ctx_free(&both[i]->ctx);
    }
}

static void test_op(void)
{
    static const op_case cases[] = {
        {"int4:g32:sym", false, READ_ONCE},   {"int4:g64:asym", false, READ_ONCE},
        {"int4:ch:asym:mse", false, READ_ONCE}, {"int4:tensor:sym", false, READ_ONCE},
        {"q4_0", false, READ_ONCE},           {"nf4", false, READ_ONCE},
        {"int4:g32:lsq", false, READ_ONCE},   {"int4:g32:asym", true, READ_ONCE},
        {"int4:g32:asym", true, READ_TWICE},  {"int4:g32:asym", true, READ_TWICE_APART},
        {"nf4", false, READ_TWICE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_op(&cases[i]);
}

/* ---- model level ----------------------------------------------------------- */

typedef struct side {
    lb_ctx ctx;
    lb_model m;
    lb_tensor *qp[128];
    int nq;
} side;

static bool side_init(side *S, const char *wq, bool recompute)
{
    memset(S, 0, sizeof *S);
    lb_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = LB_ARCH_LLAMA;
    snprintf(c.model_type, sizeof c.model_type, "llama");
    c.vocab_size = 96;
    c.hidden_size = 64;
    c.intermediate_size = 96;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 16;
    c.max_pos = 32;
    c.norm_eps = 1e-5;
    c.rope.theta = 10000.0;
    c.tie_embeddings = true;
    c.bos_id = c.eos_id = -1;
    lb_status st = lb_ctx_init(&S->ctx, LB_CPU);
    S->ctx.recompute = recompute;
    if (!lb_failed(&st)) st = lb_model_init_random(&S->m, &c, 7);
    LB_EXPECTF(!lb_failed(&st), "%s", st.msg);
    if (lb_failed(&st)) return false;
    for (int i = 0; i < S->m.n_params; i++) {   /* wide weights: the int grids clip some */
        float *x = lb_tensor_f32(S->m.params[i]);
        for (int64_t j = 0; j < lb_tensor_numel(S->m.params[i]); j++)
            if (S->m.params[i]->ndim == 2) x[j] *= 8.0f;
    }
    st = lb_run_quant_attach(NULL, &S->m, wq, NULL, NULL, true);
    if (!lb_failed(&st)) st = lb_run_quant_attach_head(NULL, &S->m, wq);
    LB_EXPECTF(!lb_failed(&st), "%s: %s", wq, st.msg);
    if (lb_failed(&st)) return false;
    S->nq = lb_run_quant_params(&S->m, S->qp, 128);
    LB_CHECK(S->nq <= 128);
    return true;
}

/* micro_batch: forward, loss / 2, backward; returns the aliased
 * fake-quant nodes on the main tape (a checkpoint's sub-tape is gone). */
static int micro_batch(side *S, uint64_t seed)
{
    lb_ctx *ctx = &S->ctx;
    const int64_t B = 2, T = 12, V = S->m.cfg.vocab_size;
    lb_tensor *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B, T));
    lb_tensor *tgt = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B * T));
    for (int64_t i = 0; i < B * T; i++) {
        ((int32_t *)ids->data)[i] = (int32_t)((i * 37 + (int64_t)seed * 11) % V);
        ((int32_t *)tgt->data)[i] = (int32_t)((i * 53 + (int64_t)seed * 5 + 3) % V);
    }
    lb_tensor *logits = lb_model_forward(ctx, &S->m, ids, NULL);   /* (B, T, V) */
    logits = lb_reshape(ctx, logits, LB_SHAPE(B * T, V));
    lb_tensor *loss = lb_cross_entropy(ctx, logits, tgt, NULL, NULL);
    lb_backward(ctx, lb_scale(ctx, loss, 0.5f));
    int aliased = 0;
    for (const lb_node *n = ctx->tape; n; n = n->prev) aliased += n->grad_aliased;
    lb_ctx_step_end(ctx);
    return aliased;
}

static int compare(const side *R, const side *M, const char *what)
{
    int differ = 0;
    for (int i = 0; i < R->m.n_params; i++)
        if (!R->m.params[i]->grad || !M->m.params[i]->grad || !same_bits(R->m.params[i], M->m.params[i])) {
            differ++;
            printf("    %s: grad of %s differs\n", what, R->m.param_names[i]);
        }
    for (int i = 0; i < R->nq; i++)
        if (R->qp[i]->grad && !same_bits(R->qp[i], M->qp[i])) {
            differ++;
            printf("    %s: grad of quantizer parameter %d differs\n", what, i);
        }
    return differ;
}

static void check_model(const char *wq, bool recompute)
{
    side R, M;
    if (!side_init(&R, wq, recompute) || !side_init(&M, wq, recompute)) return;
    micro_batch(&R, 1);   /* warm-up: the CPU grads exist from here on */
    micro_batch(&M, 1);
    for (int i = 0; i < R.m.n_params; i++) memset(R.m.params[i]->grad->data, 0, lb_tensor_nbytes(R.m.params[i]->grad));
    lb_model_zero_grad(&M.ctx, &M.m);
    for (int i = 0; i < M.m.n_params; i++) {   /* every writer of these overwrites: NaN */
        lb_tensor *g = M.m.params[i]->grad;
        if (M.m.params[i]->ndim != 2) continue;
        for (int64_t j = 0; j < lb_tensor_numel(g); j++) ((float *)g->data)[j] = NAN;
    }
    for (int i = 0; i < R.nq; i++)
        if (R.qp[i]->grad) {
            memset(R.qp[i]->grad->data, 0, lb_tensor_nbytes(R.qp[i]->grad));
            memset(M.qp[i]->grad->data, 0, lb_tensor_nbytes(M.qp[i]->grad));
        }
    char what[96];
    int ar = micro_batch(&R, 3), am = micro_batch(&M, 3);
    bool learned = strstr(wq, "lsq") != NULL;
    LB_EXPECTF(ar == 0, "%s: the unmarked run took %d aliases", wq, ar);
    LB_EXPECTF(learned ? am == 0 : am > 0, "%s (recompute %d): %d aliases on the main tape", wq, recompute, am);
    snprintf(what, sizeof what, "%s, recompute %d, 1 micro-batch", wq, recompute);
    LB_EXPECTF(compare(&R, &M, what) == 0, "%s: grads differ", what);
    micro_batch(&R, 4);
    LB_EXPECTF(micro_batch(&M, 4) == 0, "%s: aliased without a mark", wq);
    snprintf(what, sizeof what, "%s, recompute %d, 2 micro-batches", wq, recompute);
    LB_EXPECTF(compare(&R, &M, what) == 0, "%s: grads differ", what);
    side *both[2] = {&R, &M};
    for (int i = 0; i < 2; i++) {
        lb_model_free(&both[i]->m);
        lb_ctx_free(&both[i]->ctx);
    }
}

static void test_model(void)
{
    static const char *specs[] = {"int4:g32:asym", "q4_0", "nf4:g32", "int4:g32:lsq"};
    for (int i = 0; i < 4; i++) {
        check_model(specs[i], false);
        check_model(specs[i], true);
    }
}

int main(void)
{
    LB_RUN(test_op);
    LB_RUN(test_model);
    return lb_test_summary();
}
