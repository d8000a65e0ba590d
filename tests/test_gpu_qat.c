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
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/kernels.h"
#include "layers/model.h"
#include "train/optim.h"
#include "train/run_quant.h"

#define LOSS_TOL 1e-2
#define GRAD_TOL 3e-2
#define COS_MIN 0.9
#define STEPS 6
#define MICRO 2   /* micro-batches per step: the second accumulates */

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

static double rel_err(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (!(num == num)) return INFINITY;
    return sqrt(num) / (sqrt(den) > 1e-30 ? sqrt(den) : 1e-30);
}

static void batch(lb_ctx *ctx, int64_t B, int64_t T, int64_t V, uint64_t seed, lb_tensor **ids, lb_tensor **tgt)
{
    *ids = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B, T));
    *tgt = lb_tensor_new(ctx, LB_I32, LB_SHAPE(B * T));
    uint64_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < B * (T + 1); i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int32_t tok = (int32_t)((s >> 33) % (uint64_t)V);
        int64_t b = i / (T + 1), t = i % (T + 1);
        if (t < T) ((int32_t *)(*ids)->data)[b * T + t] = tok;
        if (t > 0) ((int32_t *)(*tgt)->data)[b * T + t - 1] = tok;
    }
}

/* One side of the comparison: a model with its quantizers and optimizers. */
typedef struct side {
    lb_ctx ctx;
    lb_model m;
    lb_adamw ow, oq;
    lb_tensor *qp[64];
    int nq;
} side;

static void side_init(side *S, lb_device dev, const char *wq)
{
    lb_model_config c = tiny();
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
    st = lb_run_quant_attach(NULL, &S->m, wq, NULL, NULL, false);
    LB_CHECK(!lb_failed(&st));
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
        if (!t->grad || t == m->pos_emb || (t == m->tok_emb && t != m->lm_head)) continue;
        lb_cuda_fill(&S->ctx, t->grad->data, lb_tensor_numel(t->grad), NAN);
    }
}

/* step: one training step of MICRO micro-batches (batches `seed`, seed +
 * 100, ...; each loss / MICRO, grads accumulating) after zero_grad (and
 * poison_marked); returns the mean loss. *wgrad (when not NULL) gets a host
 * copy of the grad of block 0's up_proj weight after all micro-batches. */
static float step(side *S, uint64_t seed, float **wgrad)
{
    lb_ctx *ctx = &S->ctx;
    const int64_t B = 2, T = 16, V = S->m.cfg.vocab_size;
    lb_model_zero_grad(ctx, &S->m);
    poison_marked(S);
    for (int i = 0; i < S->nq; i++) {
        lb_tensor *g = S->qp[i]->grad;
        if (g && g->device == LB_CUDA) lb_cuda_memset_zero(ctx, g->data, lb_tensor_nbytes(g));
        else if (g) memset(g->data, 0, lb_tensor_nbytes(g));
    }
    float lv = 0.0f;
    for (int mb = 0; mb < MICRO; mb++) {
        lb_tensor *ids, *tgt;
        batch(ctx, B, T, V, seed + 100 * (uint64_t)mb, &ids, &tgt);
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
    if (wgrad) {
        lb_tensor *w = S->m.blocks[0].w_up;
        *wgrad = malloc((size_t)lb_tensor_numel(w) * sizeof(float));
        LB_CHECK(*wgrad != NULL);
        lb_tensor_copy_to_host(ctx, w->grad, *wgrad);
    }
    lb_adamw_step(ctx, &S->ow, 1e-3f, 1.0f);
    if (S->nq) lb_adamw_step(ctx, &S->oq, 1e-2f, 1.0f);
    lb_ctx_step_end(ctx);
    return lv;
}

static void check_qat(const char *wq)
{
    side C, G;
    memset(&C, 0, sizeof C);
    memset(&G, 0, sizeof G);
    side_init(&C, LB_CPU, wq);
    side_init(&G, LB_CUDA, wq);
    LB_EXPECT(C.nq == G.nq);
    int64_t ns = scales_host(&C, NULL);
    float *s0 = ns ? malloc((size_t)ns * sizeof *s0) : NULL, *sc = NULL, *sg = NULL;
    if (ns) {
        sc = malloc((size_t)ns * sizeof *sc);
        sg = malloc((size_t)ns * sizeof *sg);
        LB_CHECK(s0 && sc && sg);
        scales_host(&C, s0);
        scales_host(&G, sg);
        LB_EXPECTF(rel_err(sg, s0, ns) == 0.0, "%s: initial scales differ after the move to the GPU", wq);
    }
    double worst = 0;
    for (int s = 0; s < STEPS; s++) {
        float *gc = NULL, *gg = NULL;
        float lc = step(&C, (uint64_t)s + 1, s == 0 ? &gc : NULL);
        float lg = step(&G, (uint64_t)s + 1, s == 0 ? &gg : NULL);
        double e = fabs((double)lg - (double)lc) / fabs((double)lc);
        worst = e > worst ? e : worst;
        LB_EXPECTF(e <= LOSS_TOL, "%s step %d: loss gpu %.6f vs cpu %.6f (rel %.2e > %.0e)", wq, s + 1, (double)lg,
                   (double)lc, e, LOSS_TOL);
        if (s == 0) {
            double ge = rel_err(gg, gc, lb_tensor_numel(C.m.blocks[0].w_up));
            LB_EXPECTF(ge <= GRAD_TOL, "%s: grad of a quantized weight: rel err %.2e > %.0e", wq, ge, GRAD_TOL);
            printf("  %s: step 1 up_proj grad rel err %.2e\n", wq, ge);
            free(gc);
            free(gg);
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

static void test_minmax(void) { check_qat("int4:g32"); }
static void test_lsq(void) { check_qat("int4:g32:lsq"); }

int main(void)
{
    if (!lb_cuda_available()) {
        printf("no usable CUDA GPU: skipped\n");
        return 77;
    }
    LB_RUN(test_minmax);
    LB_RUN(test_lsq);
    return lb_test_summary();
}
