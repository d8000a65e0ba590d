/* test_gpu_qat.c — QAT steps on the GPU against the same steps on the CPU.
 *
 * A tiny Llama (GQA, tied head, in-dims multiples of the group of 32) gets
 * the trainer's quantizers (lb_run_quant_attach: every block linear) with
 * int4:g32 min-max and int4:g32:lsq, twice from the same seed: one copy
 * stays on the CPU, one moves to the GPU with lb_model_to (the quantizers'
 * state follows through m->quant_to; learned scales get their own AdamW
 * group on the device). Both take the same STEPS steps on the same batches
 * (MICRO micro-batches of forward, cross-entropy, backward accumulating,
 * then AdamW on weights and on scales); on the GPU the parameter grads
 * marked zero by zero_grad are filled with NaN first (poison_marked: their
 * first writers, the dW GEMMs, the fake-quant backward into the master
 * grads, the norm weight grads, must overwrite them):
 *
 *   - the loss of every step agrees within LOSS_TOL (relative);
 *   - step 1's grad of a quantized weight (through the fake-quant's STE,
 *     dW^ written in f32 by the GEMM backward) within GRAD_TOL;
 *   - lsq: the learned scales move in the same direction on both devices:
 *     cosine of the two displacement vectors >= COS_MIN.
 *
 * Tolerances, derived as in test_gpu_model.c: on CUDA every activation and
 * every GEMM operand is bf16 (rms error of one rounding ~2^-9/sqrt(3) =
 * 1.1e-3 relative); the fake-quant adds no rounding of its own beyond the
 * bf16 storage of w^ (its codes, scales and zeros are bit-exact with the
 * CPU's, test_gpu_quant.c), which replaces the bf16 copy an unquantized
 * weight is read through. So the first step's loss has the ~5e-3 relative
 * error of ~20 roundings and a weight grad ~7e-3 (LOSS_TOL 1e-2 and
 * GRAD_TOL 3e-2, as there). Later steps add the divergence of the master
 * weights: AdamW moves each weight by at most ~lr per step, the same on
 * both devices except where a bf16-perturbed gradient changes sign (tiny
 * grads), and a weight that crosses a rounding boundary of the int4 grid
 * changes w^ by one step s on one side only: both effects are a small
 * fraction of the weights (measured, not assumed: the loss check sees them)
 * and we keep LOSS_TOL for every step of this short run. The scales of lsq
 * follow grads summed over each group of 32 (a sum of bf16-rounded
 * terms: relative error ~1e-2), so their displacement vectors point the
 * same way: COS_MIN = 0.9 leaves room for the few groups whose grad is
 * near zero; a sign error or a missing grad gives ~0 or negative.
 *
 * Quantized token embeddings (test_emb, --quantize-embeddings): the same
 * steps with the token table fake-quantized too, on CUDA a bf16 w^ that
 * lb_embedding reads and whose f32 grad its scatter writes: an untied Llama
 * (the table's grad comes from the embedding alone, through the fake-quant
 * backward that overwrites the marked, NaN-poisoned master grad), a tied one
 * with the head quantized by the same quantizer (the head's dW GEMM writes
 * the grad first, through the alias when it is marked zero, the embedding's
 * part adds after it) and a tied one with a plain head (its GEMM must read
 * bf16(w), not the w^ the embedding's fake-quant wrote into the shared bf16
 * copy, checked exactly: check_head_copy). The checks above apply, plus
 * step 1's grad of the token table within GRAD_TOL: its rows are f32 sums
 * of bf16 dx rows, as a weight grad's are sums of bf16 products.
 *
 * The in-place backward (test_alias; ops_quant.c, lb_grad_dst_alias): one
 * y = x @ w^T on each device, w's grad NaN-filled and marked zero, the same
 * bf16-rounded x and dy on both sides, two micro-batches (the second
 * unmarked: the path without the alias). The GPU must take the alias
 * exactly where the CPU does (non-learned modes; never lsq), its clip mask
 * must equal the CPU's bit for bit (the forward writes it from the same
 * codes; the weight is built to clip: each group of 32 holds -1 and +1),
 * the clipped elements must read +0, no NaN may survive, and dW must be
 * within ALIAS_TOL of the CPU's: dW = dy^T x from identical bf16-exact
 * operands, f32 sums of MROWS terms in different orders (2 * opc_tol), plus
 * the two bf16 units gpc_tol allows; a lost mask or a missing write is an
 * O(1) error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops_quant.h"
#include "autograd/tape.h"
#include "fixture.h"
#include "gpu_check.h"
#include "harness.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"
#include "layers/model.h"
#include "quant/fakequant.h"
#include "train/optim.h"
#include "train/run_quant.h"

#define LOSS_TOL 1e-2
#define GRAD_TOL 3e-2
#define COS_MIN 0.9
#define STEPS 6
#define MICRO 2   /* micro-batches per step: the second accumulates */

/* the token embedding in check_qat: not quantized, untied, tied with the
 * head quantized, tied with a plain head */
typedef enum emb_mode { EMB_PLAIN, EMB_UNTIED, EMB_TIED_HEAD, EMB_TIED_PLAIN_HEAD } emb_mode;

static lb_model_config tiny(void)
{
    lb_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = LB_ARCH_LLAMA;
    snprintf(c.model_type, sizeof c.model_type, "llama");
    c.vocab_size = 517;
    c.hidden_size = 64;
    c.intermediate_size = 160;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 16;
    c.max_pos = 64;
    c.norm_eps = 1e-5;
    c.rope.theta = 10000.0;
    c.tie_embeddings = true;
    c.bos_id = c.eos_id = -1;
    return c;
}

/* One side of the comparison: a model with its quantizers and optimizers. */
typedef struct side {
    lb_ctx ctx;
    lb_model m;
    lb_adamw ow, oq;
    lb_tensor *qp[64];
    int nq;
} side;

static void side_init(side *S, lb_device dev, const char *wq, emb_mode emb)
{
    lb_model_config c = tiny();
    c.tie_embeddings = emb != EMB_UNTIED;
    lb_status st = lb_ctx_init(&S->ctx, dev);
    LB_CHECK(!lb_failed(&st));
    st = lb_model_init_random(&S->m, &c, 11);
    LB_CHECK(!lb_failed(&st));
    /* larger weights than the 0.02 init, so the int4 grid matters */
    for (int i = 0; i < S->m.n_params; i++)
        if (S->m.params[i]->ndim == 2) {
            float *x = lb_tensor_f32(S->m.params[i]);
            for (int64_t j = 0; j < lb_tensor_numel(S->m.params[i]); j++) x[j] *= 4.0f;
        }
    st = lb_run_quant_attach(NULL, &S->m, wq, NULL, NULL, emb != EMB_PLAIN);
    LB_CHECK(!lb_failed(&st));
    if (emb == EMB_TIED_HEAD) {
        st = lb_run_quant_attach_head(NULL, &S->m, wq);
        LB_CHECK(!lb_failed(&st));
    }
    if (dev == LB_CUDA) {
        st = lb_model_to(&S->ctx, &S->m, LB_CUDA);
        LB_CHECK(!lb_failed(&st));
    }
    lb_adamw_cfg ac = lb_adamw_defaults();
    st = lb_adamw_init_model(&S->ow, &S->m, &ac);
    LB_CHECK(!lb_failed(&st));
    S->nq = lb_run_quant_params(&S->m, S->qp, 64);
    LB_CHECK(S->nq <= 64);
    if (S->nq) {
        lb_adamw_cfg qc = ac;
        qc.weight_decay = 0.0f;
        st = lb_adamw_init(&S->oq, S->qp, S->nq, NULL, &qc);
        LB_CHECK(!lb_failed(&st));
    }
}

static void side_free(side *S)
{
    if (S->nq) lb_adamw_free(&S->oq);
    lb_adamw_free(&S->ow);
    lb_model_free(&S->m);
    lb_ctx_free(&S->ctx);
}

/* scales_host: every learned scale of S, concatenated, on the host. */
static int64_t scales_host(side *S, float *dst)
{
    int64_t n = 0;
    for (int i = 0; i < S->nq; i++) {
        if (dst) lb_tensor_copy_to_host(&S->ctx, S->qp[i], dst + n);
        n += lb_tensor_numel(S->qp[i]);
    }
    return n;
}

/* poison_marked: on CUDA, after zero_grad, every grad marked zero whose
 * first writer overwrites it (tape.h: all but a table only lb_embedding
 * reads) is filled with NaN: a writer that read it would carry NaN into
 * the loss and grad checks. */
static void poison_marked(side *S)
{
    if (S->ctx.device != LB_CUDA) return;
    const lb_model *m = &S->m;
    for (int i = 0; i < m->n_params; i++) {
        lb_tensor *t = m->params[i];
        LB_EXPECTF(t->grad && (t->grad->flags & LB_TENSOR_GRAD_ZEROS), "%s: zero_grad left no mark", t->name);
        if (!t->grad || t == m->pos_emb || (t == m->tok_emb && t != m->lm_head && !m->emb_quant)) continue;
        lb_cuda_fill(&S->ctx, t->grad->data, lb_tensor_numel(t->grad), NAN);
    }
}

/* check_head_copy: on CUDA, a quantized token table tied to a plain head:
 * after the forward and backward, the bf16 copy the head's GEMM read must
 * hold bf16(w) exactly, not the w^ the embedding's fake-quant wrote there
 * (the loss alone would hardly see it: the int4 error of a table is small
 * next to LOSS_TOL). */
static void check_head_copy(side *S)
{
    const lb_model *m = &S->m;
    lb_tensor *w = m->tok_emb;
    if (S->ctx.device != LB_CUDA || !m->emb_quant || w != m->lm_head || m->head_quant == m->emb_quant) return;
    LB_EXPECTF(w->lowp != NULL, "tied table %s has no bf16 copy on cuda", w->name);
    if (!w->lowp) return;
    int64_t n = lb_tensor_numel(w), bad = 0;
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    LB_CHECK(a && b);
    lb_tensor_copy_to_host(&S->ctx, w, a);
    lb_tensor_copy_to_host(&S->ctx, w->lowp, b);
    for (int64_t i = 0; i < n; i++) bad += b[i] != lb_bf16_to_f32(lb_f32_to_bf16(a[i]));
    LB_EXPECTF(bad == 0, "tied plain head: %lld of %lld elements of the head's bf16 copy are not bf16(w)",
               (long long)bad, (long long)n);
    free(a);
    free(b);
}

/* step: one training step of MICRO micro-batches (batches `seed`, seed +
 * 100, ...; each loss / MICRO, grads accumulating) after zero_grad (and
 * poison_marked); returns the mean loss. *wgrad (when not NULL) gets a host
 * copy of the grad of block 0's up_proj weight after all micro-batches,
 * *egrad (when not NULL) one of the token table's. */
static float step(side *S, uint64_t seed, float **wgrad, float **egrad)
{
    lb_ctx *ctx = &S->ctx;
    const int64_t B = 2, T = 16, V = S->m.cfg.vocab_size;
    lb_model_zero_grad(ctx, &S->m);
    poison_marked(S);
    lb_run_quant_zero_grads(ctx, S->qp, S->nq);
    float lv = 0.0f;
    for (int mb = 0; mb < MICRO; mb++) {
        lb_tensor *ids, *tgt;
        lb_test_tokens(ctx, B, T, V, (seed + 100 * (uint64_t)mb) * 2654435761u + 1, &ids, &tgt);
        lb_tensor *logits = lb_model_forward(ctx, &S->m, ids, NULL);
        logits = lb_reshape(ctx, logits, LB_SHAPE(B * T, V));
        if (ctx->device == LB_CUDA) tgt = lb_tensor_to(ctx, tgt, LB_CUDA, LB_I32);
        lb_tensor *loss = lb_scale(ctx, lb_cross_entropy(ctx, logits, tgt, NULL, NULL), 1.0f / MICRO);
        float l;
        lb_tensor_copy_to_host(ctx, loss, &l);
        lv += l;
        lb_backward(ctx, loss);
        if (mb + 1 < MICRO) lb_ctx_step_end(ctx);
    }
    check_head_copy(S);
    if (wgrad) {
        lb_tensor *w = S->m.blocks[0].w_up;
        *wgrad = malloc((size_t)lb_tensor_numel(w) * sizeof(float));
        LB_CHECK(*wgrad != NULL);
        lb_tensor_copy_to_host(ctx, w->grad, *wgrad);
    }
    if (egrad) {
        lb_tensor *w = S->m.tok_emb;
        *egrad = malloc((size_t)lb_tensor_numel(w) * sizeof(float));
        LB_CHECK(*egrad != NULL);
        lb_tensor_copy_to_host(ctx, w->grad, *egrad);
    }
    lb_adamw_step(ctx, &S->ow, 1e-3f, 1.0f);
    if (S->nq) lb_adamw_step(ctx, &S->oq, 1e-2f, 1.0f);
    lb_ctx_step_end(ctx);
    return lv;
}

static void check_qat(const char *wq_spec, emb_mode emb)
{
    static const char *emb_name[] = {"", " (emb untied)", " (emb tied, head quantized)", " (emb tied, plain head)"};
    char wq[96];
    snprintf(wq, sizeof wq, "%s%s", wq_spec, emb_name[emb]);
    side C, G;
    memset(&C, 0, sizeof C);
    memset(&G, 0, sizeof G);
    side_init(&C, LB_CPU, wq_spec, emb);
    side_init(&G, LB_CUDA, wq_spec, emb);
    LB_EXPECT(C.nq == G.nq);
    int64_t ns = scales_host(&C, NULL);
    float *s0 = ns ? malloc((size_t)ns * sizeof *s0) : NULL, *sc = NULL, *sg = NULL;
    if (ns) {
        sc = malloc((size_t)ns * sizeof *sc);
        sg = malloc((size_t)ns * sizeof *sg);
        LB_CHECK(s0 && sc && sg);
        scales_host(&C, s0);
        scales_host(&G, sg);
        LB_EXPECTF(lb_test_rel_l2(sg, s0, ns) == 0.0, "%s: initial scales differ after the move to the GPU", wq);
    }
    double worst = 0;
    for (int s = 0; s < STEPS; s++) {
        float *gc = NULL, *gg = NULL, *ec = NULL, *eg = NULL;
        bool eg_want = s == 0 && emb != EMB_PLAIN;
        float lc = step(&C, (uint64_t)s + 1, s == 0 ? &gc : NULL, eg_want ? &ec : NULL);
        float lg = step(&G, (uint64_t)s + 1, s == 0 ? &gg : NULL, eg_want ? &eg : NULL);
        double e = fabs((double)lg - (double)lc) / fabs((double)lc);
        worst = e > worst ? e : worst;
        LB_EXPECTF(e <= LOSS_TOL, "%s step %d: loss gpu %.6f vs cpu %.6f (rel %.2e > %.0e)", wq, s + 1, (double)lg,
                   (double)lc, e, LOSS_TOL);
        if (s == 0) {
            double ge = lb_test_rel_l2(gg, gc, lb_tensor_numel(C.m.blocks[0].w_up));
            LB_EXPECTF(ge <= GRAD_TOL, "%s: grad of a quantized weight: rel err %.2e > %.0e", wq, ge, GRAD_TOL);
            printf("  %s: step 1 up_proj grad rel err %.2e\n", wq, ge);
            free(gc);
            free(gg);
        }
        if (eg_want) {
            double ee = lb_test_rel_l2(eg, ec, lb_tensor_numel(C.m.tok_emb));
            LB_EXPECTF(ee <= GRAD_TOL, "%s: grad of the quantized token table: rel err %.2e > %.0e", wq, ee,
                       GRAD_TOL);
            printf("  %s: step 1 token table grad rel err %.2e\n", wq, ee);
            free(ec);
            free(eg);
        }
        printf("  %s step %d: loss cpu %.6f gpu %.6f\n", wq, s + 1, (double)lc, (double)lg);
    }
    printf("  %s: %d steps, worst loss rel err %.2e (tol %.0e)\n", wq, STEPS, worst, LOSS_TOL);
    if (ns) {
        scales_host(&C, sc);
        scales_host(&G, sg);
        double dot = 0, nc = 0, ng = 0;
        for (int64_t i = 0; i < ns; i++) {
            double a = (double)sc[i] - s0[i], b = (double)sg[i] - s0[i];
            dot += a * b;
            nc += a * a;
            ng += b * b;
        }
        double cosv = nc > 0 && ng > 0 ? dot / sqrt(nc * ng) : 0;
        LB_EXPECTF(nc > 0 && ng > 0, "%s: learned scales did not move (cpu %g, gpu %g)", wq, nc, ng);
        LB_EXPECTF(cosv >= COS_MIN, "%s: scale displacements point apart: cosine %.3f < %.2f", wq, cosv, COS_MIN);
        printf("  %s: %lld learned scales, displacement cosine gpu vs cpu %.4f, |d| cpu %.3e gpu %.3e\n", wq,
               (long long)ns, cosv, sqrt(nc), sqrt(ng));
    }
    free(s0);
    free(sc);
    free(sg);
    side_free(&G);
    side_free(&C);
}

static void test_minmax(void) { check_qat("int4:g32", EMB_PLAIN); }
static void test_lsq(void) { check_qat("int4:g32:lsq", EMB_PLAIN); }

static void test_emb(void)
{
    check_qat("int4:g32", EMB_UNTIED);
    check_qat("int4:g32", EMB_TIED_HEAD);
    check_qat("int4:g32", EMB_TIED_PLAIN_HEAD);
    check_qat("int4:g32:lsq", EMB_UNTIED);
    check_qat("int4:g32:lsq", EMB_TIED_HEAD);
}

/* ---- the in-place fake-quant backward against the CPU ---------------------- */

enum { AROWS = 64, ACOLS = 256, MROWS = 24 };
#define ALIAS_TOL gpc_tol(LB_BF16, MROWS)

typedef struct alias_side {
    lb_ctx *ctx;
    lb_tensor *w;      /* (AROWS, ACOLS) f32 parameter */
    lb_quantizer q;
} alias_side;

/* alias_pass: y = x @ w^T with dy, one micro-batch on each side (marked:
 * w's grads NaN and marked zero first); checks the alias, the masks, the
 * clipped elements and dW. */
static void alias_pass(alias_side *C, alias_side *G, const char *spec, bool marked, uint64_t seed)
{
    int64_t n = AROWS * ACOLS, words = lb_clip_mask_words(n);
    char what[160];
    snprintf(what, sizeof what, "alias %s, %s micro-batch", spec, marked ? "first (marked)" : "second");
    if (marked) {
        float *nan = malloc((size_t)n * sizeof *nan);
        for (int64_t i = 0; i < n; i++) nan[i] = NAN;
        memcpy(C->w->grad->data, nan, (size_t)n * sizeof *nan);
        lb_tensor_copy_from_host(G->ctx, G->w->grad, nan);
        free(nan);
        lb_grad_mark_zero(C->w);
        lb_grad_mark_zero(G->w);
    }
    lb_tensor *xc, *xg;
    gpc_pair(C->ctx, G->ctx, LB_SHAPE(MROWS, ACOLS), LB_BF16, seed, -1.0f, 1.0f, false, &xc, &xg);
    lb_tensor *fc = lb_fake_quant_weight(C->ctx, C->w, &C->q), *fg = lb_fake_quant_weight(G->ctx, G->w, &G->q);
    lb_tensor *yc = lb_linear(C->ctx, xc, fc, NULL), *yg = lb_linear(G->ctx, xg, fg, NULL);   /* (M, AROWS) */
    const uint32_t *mc = lb_fake_quant_weight_clip_mask(fc), *mgd = lb_fake_quant_weight_clip_mask(fg);
    uint32_t *mg = calloc((size_t)words, sizeof *mg);
    LB_EXPECTF((mc == NULL) == (mgd == NULL), "%s: a clip mask on one device only", what);
    if (mgd) lb_cuda_memcpy_d2h(G->ctx, mg, mgd, (size_t)words * sizeof *mg);
    int64_t set = 0;
    if (mc && mgd) {
        for (int64_t k = 0; k < words; k++) set += __builtin_popcount(mc[k]);
        LB_EXPECTF(!memcmp(mc, mg, (size_t)words * sizeof *mg), "%s: the CUDA clip mask differs from the CPU's", what);
        if (!strcmp(spec, "int4:g32:asym"))
            LB_EXPECTF(set > 0, "%s: the weight built to clip has no clip bit", what);
    }
    gpc_seed_out_grad(C->ctx, G->ctx, yc, yg, seed + 1);
    const lb_node *nc = fc->node, *ng = fg->node;
    lb_tape_backward(C->ctx, C->ctx->tape, NULL);
    lb_tape_backward(G->ctx, G->ctx->tape, NULL);
    bool want = marked && !lb_qspec_learned(&C->q.spec);
    LB_EXPECTF(nc->grad_aliased == want && ng->grad_aliased == want, "%s: aliased cpu %d cuda %d, expected %d",
               what, nc->grad_aliased, ng->grad_aliased, want);
    float *got = malloc((size_t)n * sizeof *got);
    lb_tensor_copy_to_host(G->ctx, G->w->grad, got);
    int64_t bad = 0;
    for (int64_t i = 0; mc && i < n; i++)
        if (((mc[i >> 5] >> (i & 31)) & 1u) && (got[i] != 0.0f || signbit(got[i]))) bad++;
    LB_EXPECTF(bad == 0, "%s: %lld clipped elements are not +0 on CUDA", what, (long long)bad);
    free(got);
    free(mg);
    gpc_expect_close(what, G->ctx, G->w->grad, C->w->grad, ALIAS_TOL);
    lb_ctx_step_end(C->ctx);
    lb_ctx_step_end(G->ctx);
}

static void check_alias(const char *spec)
{
    lb_ctx cpu, gpu;
    lb_status st = lb_ctx_init(&cpu, LB_CPU);
    LB_CHECK(!lb_failed(&st));
    gpc_ctx(&gpu);
    alias_side C = {.ctx = &cpu}, G = {.ctx = &gpu};
    C.w = lb_tensor_alloc(LB_F32, LB_SHAPE(AROWS, ACOLS));
    float *w = C.w->data;
    lb_test_rand(w, AROWS * ACOLS, 3, -0.9f, 0.9f);
    for (int64_t i = 0; i < AROWS * ACOLS; i += 32) {   /* s = 2/15 rounds down in fp16: +1 clips */
        w[i] = -1.0f;
        w[i + 1 + (i / 32) % 31] = 1.0f;
    }
    C.w->requires_grad = true;
    C.w->name = "layer.weight";
    lb_qspec sp;
    st = lb_qspec_parse(spec, LB_QROLE_WEIGHT, &sp);
    if (!lb_failed(&st)) st = lb_quantizer_init(&C.q, &sp, C.w, "layer.weight");
    LB_EXPECTF(!lb_failed(&st), "%s: %s", spec, st.msg);
    if (lb_failed(&st)) return;
    G.w = lb_tensor_alloc_dev(LB_CUDA, LB_F32, 2, C.w->shape);
    lb_tensor_copy_from_host(&gpu, G.w, C.w->data);
    G.w->requires_grad = true;
    G.w->name = C.w->name;
    lb_param_refresh_lowp(&gpu, G.w);   /* w^ goes into lowp, as in a model */
    G.q = C.q;
    lb_tensor *qs[3] = {C.q.scales, C.q.zeros, C.q.alpha}, **qd[3] = {&G.q.scales, &G.q.zeros, &G.q.alpha};
    for (int i = 0; i < 3; i++) {
        if (!qs[i]) continue;
        *qd[i] = lb_tensor_alloc_dev(LB_CUDA, LB_F32, qs[i]->ndim, qs[i]->shape);
        lb_tensor_copy_from_host(&gpu, *qd[i], qs[i]->data);
        (*qd[i])->requires_grad = qs[i]->requires_grad;
    }
    G.q.scale_name = G.q.zero_name = NULL;
    lb_grad_of(&cpu, C.w);
    lb_grad_of(&gpu, G.w);
    alias_pass(&C, &G, spec, true, 21);
    alias_pass(&C, &G, spec, false, 23);
    for (int i = 0; i < 3; i++)
        if (qs[i]) lb_tensor_free(*qd[i]);
    lb_quantizer_free(&C.q);
    lb_tensor_free(G.w);
    lb_tensor_free(C.w);
    lb_ctx_free(&gpu);
    lb_ctx_free(&cpu);
}

static void test_alias(void)
{
    static const char *specs[] = {"int4:g32:asym", "int4:g32:sym", "int4:tensor:sym", "int4:ch:asym:mse",
                                  "q4_0", "nf4:g32", "int4:g32:lsq"};
    for (int i = 0; i < 7; i++) check_alias(specs[i]);
}

int main(void)
{
    if (!lb_cuda_available()) {
        printf("no usable CUDA GPU: skipped\n");
        return 77;
    }
    LB_RUN(test_minmax);
    LB_RUN(test_lsq);
    LB_RUN(test_emb);
    LB_RUN(test_alias);
    return lb_test_summary();
}
