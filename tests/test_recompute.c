/* test_recompute.c — per-block activation recomputation (lb_checkpoint,
 * ctx->recompute) on the CPU, the specification path.
 *
 * Two copies of one tiny model (same seed, same quantizers) take the same
 * two micro-batches of forward + cross-entropy + backward (grads
 * accumulate, as in the trainer), one plain and one with ctx->recompute:
 *   - the losses and every parameter grad, quantizer parameters (LSQ
 *     scales) included, are bit-identical: recomputation reruns the same
 *     ops in the same order and the backward visits the same nodes in the
 *     same order, so no tolerance applies; a gradient counted twice or
 *     missed (a learned scale fed by both forwards, an output grad dropped)
 *     changes bits;
 *   - the recomputing forward left fewer nodes on the tape (one per block
 *     instead of the block's ops), so the facility was really used, and the
 *     step arena's peak is lower (the segment's memory is rewound: only
 *     block boundaries and one block's activations and grads are live);
 *   - without grad mode the forward is unchanged (logits bit-identical).
 * The facility itself (test_checkpoint_api): a toy segment with three
 * inputs (one needing no grad), three outputs (the first needing no grad,
 * so its node runs for the others) and a closure the caller changes after
 * the call gives the plain path's loss, input grads and output grads bit
 * for bit, with one tape node.
 *
 * Cases: Llama with GQA and a tied head (fp; int4:g32 min-max with int8
 * per-token activations; int4:g32:lsq; int4:g32 with statically
 * calibrated int8 activations: a calibration forward with grad on goes
 * through lb_checkpoint and must observe each site exactly once, with the
 * plain model's scale, and the training steps must not observe again),
 * Llama with an untied head and
 * biases, GPT-2 with its tied head (fp; int4:g32:lsq; PACT activations,
 * whose learned clips get their grads once).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/recompute.h"
#include "fixture.h"
#include "harness.h"
#include "layers/model.h"
#include "quant/quantizer.h"
#include "train/run_quant.h"

typedef struct rc_case {
    const char *name;
    lb_arch arch;
    const char *wq, *aq;
    bool tied, bias;
} rc_case;

/* batch: the tokens of micro-batch `seed` */
static void batch(lb_ctx *ctx, int64_t B, int64_t T, int64_t V, uint64_t seed, lb_tensor **ids, lb_tensor **tgt)
{
    lb_test_tokens(ctx, B, T, V, seed * 2654435761u + 1, ids, tgt);
}

typedef struct side {
    lb_ctx ctx;
    lb_model m;
    lb_tensor *qp[128];
    int nq;
    float loss[2];
    int64_t tape_len;   /* nodes after the first forward */
    size_t peak;        /* the step arena's peak over the run */
} side;

/* calibrate: one calibration forward (the hook train/calib.c uses: each
 * static site observes its input), here with grad mode on, so with
 * ctx->recompute it runs through lb_checkpoint's first forward and no
 * backward follows: every site must have observed exactly once. */
static void calibrate(side *S)
{
    lb_ctx *ctx = &S->ctx;
    for (int64_t b = 0; b < S->m.cfg.n_layers; b++)
        for (int id = 0; id < LB_LIN_COUNT; id++)
            if (S->m.blocks[b].aquant[id]) S->m.blocks[b].aquant[id]->calibrating = true;
    lb_tensor *ids, *tgt;
    batch(ctx, 2, 12, S->m.cfg.vocab_size, 99, &ids, &tgt);
    lb_model_hidden(ctx, &S->m, ids, NULL);   /* (2, 12, C), observed on the way */
    lb_ctx_step_end(ctx);
    for (int64_t b = 0; b < S->m.cfg.n_layers; b++)
        for (int id = 0; id < LB_LIN_COUNT; id++)
            if (S->m.blocks[b].aquant[id]) S->m.blocks[b].aquant[id]->calibrating = false;
}

static bool side_init(side *S, const rc_case *k, bool recompute)
{
    memset(S, 0, sizeof *S);
    lb_model_config c = lb_test_tiny_config(k->arch, 3, k->tied, k->bias);
    /* the weights spread so that the int4 grid matters */
    if (!lb_test_model_setup(&S->ctx, &S->m, &c, recompute, k->wq, k->aq, S->qp, &S->nq)) return false;
    if (k->aq && strstr(k->aq, "static")) calibrate(S);
    return true;
}

/* observed: the calibration batches seen, summed over m's activation sites */
static int64_t observed(const lb_model *m)
{
    int64_t n = 0;
    for (int64_t b = 0; b < m->cfg.n_layers; b++)
        for (int id = 0; id < LB_LIN_COUNT; id++)
            if (m->blocks[b].aquant[id]) n += m->blocks[b].aquant[id]->act_observed;
    return n;
}

/* two micro-batches, grads accumulating */
static void side_run(side *S)
{
    lb_ctx *ctx = &S->ctx;
    const int64_t B = 2, T = 12, V = S->m.cfg.vocab_size;
    for (int a = 0; a < 2; a++) {
        lb_tensor *ids, *tgt;
        batch(ctx, B, T, V, (uint64_t)a + 3, &ids, &tgt);
        lb_tensor *logits = lb_model_forward(ctx, &S->m, ids, NULL);   /* (B, T, V) */
        if (a == 0) S->tape_len = ctx->tape_len;
        logits = lb_reshape(ctx, logits, LB_SHAPE(B * T, V));
        lb_tensor *loss = lb_cross_entropy(ctx, logits, tgt, NULL, NULL);
        S->loss[a] = lb_tensor_f32(loss)[0];
        lb_backward(ctx, lb_scale(ctx, loss, 0.5f));
        lb_ctx_step_end(ctx);
    }
    S->peak = ctx->arena.peak;
}

static void side_free(side *S)
{
    lb_model_free(&S->m);
    lb_ctx_free(&S->ctx);
}

static void check_case(const rc_case *k)
{
    side P, R;
    bool ok = side_init(&P, k, false) && side_init(&R, k, true);
    if (!ok) return;
    int64_t seen = observed(&R.m);
    if (k->aq && strstr(k->aq, "static")) {
        int sites = 0, bad = 0;
        for (int64_t b = 0; b < P.m.cfg.n_layers; b++)
            for (int id = 0; id < LB_LIN_COUNT; id++) {
                const lb_quantizer *qp = P.m.blocks[b].aquant[id], *qr = R.m.blocks[b].aquant[id];
                if (!qp || !qr) continue;
                sites++;
                bad += qp->act_observed != 1 || qr->act_observed != 1 ||
                       memcmp(&qp->act_scale, &qr->act_scale, sizeof qp->act_scale) != 0;
            }
        LB_EXPECTF(sites > 0 && bad == 0,
                   "%s: %d of %d static sites were not observed exactly once with the same scale", k->name, bad,
                   sites);
    }
    side_run(&P);
    side_run(&R);
    LB_EXPECTF(observed(&R.m) == seen, "%s: activation sites observed %lld times before the steps, %lld after",
               k->name, (long long)seen, (long long)observed(&R.m));
    LB_EXPECTF(!memcmp(P.loss, R.loss, sizeof P.loss), "%s: losses %.9g %.9g with recompute, %.9g %.9g without",
               k->name, (double)R.loss[0], (double)R.loss[1], (double)P.loss[0], (double)P.loss[1]);
    LB_EXPECT(P.nq == R.nq);
    int differ = lb_test_diff_grads(&P.m, &R.m, P.qp, R.qp, P.nq < R.nq ? P.nq : R.nq, k->name);
    LB_EXPECTF(differ == 0, "%s: %d grads differ with recompute", k->name, differ);
    LB_EXPECTF(R.peak < P.peak, "%s: step arena peak %zu bytes with recompute, %zu without", k->name, R.peak,
               P.peak);
    LB_EXPECTF(R.tape_len < P.tape_len, "%s: the recomputing forward recorded %lld nodes, the plain one %lld",
               k->name, (long long)R.tape_len, (long long)P.tape_len);

    /* grad mode off: the checkpoint is a plain call */
    lb_ctx_set_grad(&P.ctx, false);
    lb_ctx_set_grad(&R.ctx, false);
    lb_tensor *ids, *tgt;
    batch(&P.ctx, 1, 9, P.m.cfg.vocab_size, 11, &ids, &tgt);
    lb_tensor *lp = lb_model_forward(&P.ctx, &P.m, ids, NULL);
    lb_tensor *lr = lb_model_forward(&R.ctx, &R.m, ids, NULL);
    LB_EXPECTF(!memcmp(lp->data, lr->data, lb_tensor_nbytes(lp)), "%s: eval logits differ with recompute", k->name);
    LB_EXPECTF(R.ctx.tape_len == 0, "%s: an eval forward recorded nodes", k->name);
    printf("  %s: losses %.6f %.6f; %d parameter + %d quantizer grads compared bitwise, %d differ; forward tape "
           "%lld -> %lld nodes, arena peak %.1f -> %.1f KiB\n",
           k->name, (double)R.loss[0], (double)R.loss[1], P.m.n_params, P.nq, differ, (long long)P.tape_len,
           (long long)R.tape_len, (double)P.peak / 1024.0, (double)R.peak / 1024.0);
    lb_ctx_step_end(&P.ctx);
    lb_ctx_step_end(&R.ctx);
    side_free(&P);
    side_free(&R);
}

/* ---- the facility on a toy segment ------------------------------------------------- */

typedef struct toy_closure {
    float s;
} toy_closure;

/* toy: (a, b, c) -> (s·c, (a + c)·b, s·silu(a)); reads every input before
 * writing an output (in and out may be one array). */
static void toy(lb_ctx *ctx, const void *closure, lb_tensor *const *in, lb_tensor **out)
{
    const toy_closure *t = closure;
    lb_tensor *a = in[0], *b = in[1], *c = in[2];
    out[0] = lb_scale(ctx, c, t->s);
    out[1] = lb_mul(ctx, lb_add(ctx, a, c), b);
    out[2] = lb_scale(ctx, lb_silu(ctx, a), t->s);
}

typedef struct toy_result {
    float loss, ga[15], gb[15], g1[15];
    int64_t tape_len;
    bool rg0;
} toy_result;

static void toy_run(bool checkpoint, toy_result *r)
{
    lb_ctx ctx;
    lb_status st = lb_ctx_init(&ctx, LB_CPU);
    LB_CHECK(!lb_failed(&st));
    lb_tensor *io[3];
    for (int i = 0; i < 3; i++) {
        io[i] = lb_tensor_new(&ctx, LB_F32, LB_SHAPE(3, 5));   /* (3, 5) */
        lb_test_rand(io[i]->data, 15, (uint64_t)i + 40, -2.0f, 2.0f);
    }
    lb_tensor *a = io[0], *b = io[1];
    a->requires_grad = b->requires_grad = true;   /* c needs no grad */
    toy_closure cl = {0.75f};
    if (checkpoint) lb_checkpoint(&ctx, toy, &cl, sizeof cl, io, 3, io, 3);
    else toy(&ctx, &cl, io, io);
    cl.s = 100.0f;   /* the checkpoint reruns with its own copy */
    r->tape_len = ctx.tape_len;
    r->rg0 = io[0]->requires_grad;
    lb_tensor *loss = lb_sum(&ctx, lb_add(&ctx, lb_mul(&ctx, io[1], io[2]), io[0]));
    r->loss = lb_tensor_f32(loss)[0];
    lb_backward(&ctx, loss);
    LB_CHECK(a->grad && b->grad && io[1]->grad);
    memcpy(r->ga, a->grad->data, sizeof r->ga);
    memcpy(r->gb, b->grad->data, sizeof r->gb);
    memcpy(r->g1, io[1]->grad->data, sizeof r->g1);   /* readable after backward: no release_grads */
    lb_ctx_free(&ctx);
}

static void test_checkpoint_api(void)
{
    toy_result p, c;
    toy_run(false, &p);
    toy_run(true, &c);
    LB_EXPECTF(!memcmp(&p.loss, &c.loss, sizeof p.loss), "toy loss %.9g with the checkpoint, %.9g without",
               (double)c.loss, (double)p.loss);
    LB_EXPECT(!memcmp(p.ga, c.ga, sizeof p.ga));
    LB_EXPECT(!memcmp(p.gb, c.gb, sizeof p.gb));
    LB_EXPECT(!memcmp(p.g1, c.g1, sizeof p.g1));
    LB_EXPECT(!p.rg0 && !c.rg0);
    /* plain: add, mul, silu, scale (s·c records nothing); checkpointed: one node */
    LB_EXPECTF(c.tape_len == 1 && p.tape_len == 4, "toy tape: %lld nodes with the checkpoint, %lld without",
               (long long)c.tape_len, (long long)p.tape_len);
}

/* ---- whole models ------------------------------------------------------------------- */

static void test_llama_fp(void) { check_case(&(rc_case){"llama gqa tied fp", LB_ARCH_LLAMA, NULL, NULL, true, false}); }
static void test_llama_minmax(void)
{
    check_case(&(rc_case){"llama int4:g32 + int8:token", LB_ARCH_LLAMA, "int4:g32", "int8:token", true, false});
}
static void test_llama_lsq(void)
{
    check_case(&(rc_case){"llama int4:g32:lsq", LB_ARCH_LLAMA, "int4:g32:lsq", NULL, true, false});
}
static void test_llama_static_act(void)
{
    check_case(&(rc_case){"llama int4:g32 + int8:tensor:static", LB_ARCH_LLAMA, "int4:g32", "int8:tensor:static",
                          true, false});
}
static void test_gpt2_pact(void)
{
    check_case(&(rc_case){"gpt2 int8:tensor:pact", LB_ARCH_GPT2, NULL, "int8:tensor:pact", true, true});
}
static void test_llama_untied_bias(void)
{
    check_case(&(rc_case){"llama untied, biases", LB_ARCH_LLAMA, NULL, NULL, false, true});
}
static void test_gpt2_fp(void) { check_case(&(rc_case){"gpt2 tied fp", LB_ARCH_GPT2, NULL, NULL, true, true}); }
static void test_gpt2_lsq(void)
{
    check_case(&(rc_case){"gpt2 int4:g32:lsq", LB_ARCH_GPT2, "int4:g32:lsq", NULL, true, true});
}

int main(void)
{
    LB_RUN(test_checkpoint_api);
    LB_RUN(test_llama_fp);
    LB_RUN(test_llama_minmax);
    LB_RUN(test_llama_lsq);
    LB_RUN(test_llama_static_act);
    LB_RUN(test_llama_untied_bias);
    LB_RUN(test_gpt2_fp);
    LB_RUN(test_gpt2_lsq);
    LB_RUN(test_gpt2_pact);
    return lb_test_summary();
}
